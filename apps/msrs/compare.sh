#!/usr/bin/env bash
# The README's method comparison: two lanes of runs (one CPU thread each), then the summary.
# Usage: apps/msrs/compare.sh OUT_DIR [extra hydra overrides...]
set -euo pipefail
OUT=${1:?usage: compare.sh OUT_DIR [overrides]}; shift
PY=${PYTHON:-.venv/bin/python}
nice $PY -m apps.msrs.compare run --out "$OUT" \
  --runs vsr:msrs_s,vsr:static,vsr:set,vsr:rigl,avsr:curriculum,asr:dense -- preset=compare "$@" > "$OUT.laneA.log" 2>&1 &
A=$!
nice $PY -m apps.msrs.compare run --out "$OUT" \
  --runs vsr:dense,vsr:msrs_d,vsr:curriculum,avsr:dense,avsr:msrs_d,avsr:msrs_s -- preset=compare "$@" > "$OUT.laneB.log" 2>&1 &
B=$!
wait $A $B
$PY -m apps.msrs.compare report --out "$OUT"
