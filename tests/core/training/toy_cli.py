"""A stand-in app CLI for the comparison-set driver's tests: `python -m toy_cli key=value ...`.

Trains the toy task through the shared loop; `lr`, `trainer.seed`, `run_dir`, `density` are understood.
Writes the density it was given into the summary (so a dependant run can read it back)."""
import sys

from loop_fixtures import build_and_run


def main(argv):
    kv = dict(a.split("=", 1) for a in argv)
    fp = {k: v for k, v in kv.items() if k != "run_dir"}
    summary, _ = build_and_run(kv["run_dir"], max_steps=4, seed=int(kv.get("trainer.seed", 0)), fingerprint=fp)
    print("ok", summary["steps"])


if __name__ == "__main__":
    main(sys.argv[1:])
