"""The benchmarks: scripts that measure what the README and the docs quote (``python -m benchmarks``)."""
