"""Benchmark modules, discovered by ``benchmarks.runner`` (one file per app or core part).

A module ``<name>.py`` here exposes ``NAME`` (the app name used in its records), ``DESCRIPTION`` (one
line) and ``run(ctx: benchmarks.context.BenchContext) -> None``. Timings go through
``ctx.compare_timing`` (a ratio to a baseline timed interleaved in the same run, with a noise floor; peers
with ``peer=...``), quality figures through ``ctx.record_seeds`` (over ``ctx.seed_list()``), the app's one
plot through ``ctx.headline_plot``; see ``benchmarks/README.md``. Files starting with ``_`` are skipped.
"""
