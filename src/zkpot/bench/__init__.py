"""Every benchmark of zkpot, run as ``zkpot bench prover`` and ``zkpot bench ledger``.

Machines here are shared and noisy, so each benchmark measures its baseline in the same
run and prints ratios beside the absolute figures:

- :mod:`zkpot.bench.prover`: setup, proof (each in a fresh process, :mod:`zkpot.bench.child`,
  so that its peak RSS is its own), verification and sizes of the accuracy proof, with the
  prover's own time per step; the baseline is one full-scalar MSM over the key's
  evaluation domain (``floor_s``, ``floor_ratio``) and, with ``--vs ezkl``, ezkl (Halo2)
  proving the same model on the same samples (:mod:`zkpot.bench.ezkl_peer`; the peers are
  optional, ``pip install zkpot[bench]``, and never imported by the runtime);
- :mod:`zkpot.bench.ledger`: gas of every ZKPoT transaction, bytecode sizes and calldata,
  beside the Groth16 verifier's own ``verifyProof`` gas for the same proof.
"""
