"""A block explorer for ZKPoT tasks: the chain of round blocks, each round's submissions,
leader turns, refusals, gas and content addresses, and the accuracy curve.

``view`` reads a task into one :class:`~zkpot.explorer.view.ChainView`, from a run's
results directory or from any ledger; ``page`` renders it as one self-contained HTML page
(``zkpot run`` writes it as ``results/<run>/index.html``); ``server`` serves it live on
127.0.0.1 (``zkpot explorer``).
"""
