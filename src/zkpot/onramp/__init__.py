"""The accuracy proof as a standalone tool, with models brought from elsewhere.

``importers`` reads a scikit-learn, ONNX or safetensors MLP and quantises it for a task;
``artefacts`` writes and reads the files of a task directory and of a proof;
``cli`` is ``zkpot import``, ``zkpot task create``, ``zkpot prove``, ``zkpot verify`` and
``zkpot verifier``.
"""
