"""sparselab benchmarks: suites (``benchmarks/suites``), runner, JSON-lines results, REPORT.md, compare, CLI."""
