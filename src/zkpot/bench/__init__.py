"""Benchmarks of zkpot's proving against peers; :mod:`zkpot.bench.ezkl_peer` is the ezkl one.

The peers are optional (``pip install zkpot[bench]``) and never imported by the runtime.
"""
