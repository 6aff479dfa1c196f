"""Attacks on a ZKPoT federation and what stops them.

- :mod:`zkpot.attacks.behaviours`: Byzantine participant strategies (inflated claims,
  forged and replayed proofs, model substitution, label-flip poisoning, free-riding,
  withholding, a dishonest leader) and the audits that would expose a dishonest leader.
- :mod:`zkpot.attacks.experiments`: the Byzantine sweep (global accuracy against the
  fraction of attackers, with and without proofs).
- :mod:`zkpot.attacks.privacy`: membership inference against what each setting exposes
  (plain FL, DP-SGD FL, ZKPoT's public artefacts).
- :mod:`zkpot.attacks.cli`: ``zkpot experiment byzantine`` and ``zkpot experiment privacy``.

See ``docs/security.md`` for the threat model and the results.
"""
