"""Shared fixtures of the test suite, for every test module.

- Chains (anvil.py): ``ledger``, each test once on the in-process EVM and once on anvil
  (marked ``anvil``), and ``anvil_url``, one anvil node per session.
- Provers (anvil.py): ``prover``, real Groth16 proofs for a tiny circuit, and ``groth16``,
  a Groth16 vector whose trapdoor is known.
- Content store (kubo.py): ``ipfs_bin``, ``kubo_api`` and ``kubo_daemon``, an isolated
  offline kubo node (marked ``ipfs``) that a test may restart.

Each lives beside the helper that starts its process; tests skip only when a binary is
absent.
"""

pytest_plugins = ("anvil", "kubo")
