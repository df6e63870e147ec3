"""Benchmark modules, discovered by ``benchmarks.runner`` (one file per app or core part).

A module ``<name>.py`` here exposes ``NAME`` (the app name used in its records), ``DESCRIPTION`` (one
line) and ``run(ctx: benchmarks.context.BenchContext) -> None``; see ``benchmarks/README.md``.
Files starting with ``_`` are skipped.
"""
