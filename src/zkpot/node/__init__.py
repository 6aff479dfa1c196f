"""zkpot across processes and machines: a publisher, participant nodes and a status view.

Every party is its own process with its own keys. They share nothing but a JSON-RPC
endpoint of one EVM chain (the ZKPoT contract) and the HTTP API of an IPFS node (the
content store); no message passes between them directly.

- :mod:`zkpot.node.keys`: key files (an Ethereum account and an X25519 key pair) and the
  participants file the publisher registers.
- :mod:`zkpot.node.manifest`: the task manifest in the store (proving key, verifying key,
  test set, model spec) and the task file that points at it; publishing a task and
  loading it back, checked against the chain.
- :mod:`zkpot.node.state`: a participant's durable state, one SQLite file.
- :mod:`zkpot.node.runner`: a participant's round loop, resumable after a crash.
- :mod:`zkpot.node.status`: a task's rounds, leaders, blocks and absentees, from the chain.
- :mod:`zkpot.node.cli`: the ``zkpot keygen | publisher | participant | status`` commands.

See ``docs/deploy.md``.
"""
