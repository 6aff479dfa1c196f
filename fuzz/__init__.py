"""Coverage-guided fuzzing of every decoder of untrusted bytes (atheris over the Python
entry points, which reach the Rust decoders through PyO3). See fuzz/README.md."""
