"""The benchmark harness that produces BENCHMARKS.md (``python -m benchmarks --help``).

Each scenario starts a broker, a simulated PBX and leadsync as real processes,
and measures a baseline in the same invocation, so every figure comes with a
ratio taken on the same machine at the same time. Not part of ``make test``.
"""
