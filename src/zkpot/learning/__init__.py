"""Federated-learning side of zkpot: datasets, partitions, the float MLP, FedAvg, the
integer model (its spec and weights), the quantiser that makes it and the integer inference
that the Groth16 circuit reproduces.

Submodules are imported explicitly (``from zkpot.learning.integer_model import ModelSpec``);
this package module imports nothing so that importing one part stays cheap.
"""
