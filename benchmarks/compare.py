"""Benchmark: `outcomes compare --plan` end to end on an assessments-only, three-arm trial.

Usage::

    python benchmarks/compare.py                  # 20,000 patients
    python benchmarks/compare.py --patients 5000

A simulated cohort (visits at weeks 0, 2, 4, 6, 8, 12) is written as patients
and assessments only, its two schedules relabelled into three arms (the
guided arm split at random), then `outcomes compare DATA --plan PLAN --out DIR`
runs in a child process; prints seconds and the child's peak memory.
Target (issue 7): under 60 s at 20,000 patients. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from outcomes.plan import AnalysisPlan, write_plan
    from outcomes.simulate import simulate, write_dataset

    folder = Path(tempfile.mkdtemp(prefix="outcomes-bench-compare-"))
    sim = simulate(args.patients, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    arms = np.where(sim.patients["schedule"] == "weekly", "usual_care",
                    np.where(rng.random(len(sim.patients)) < 0.5, "guided_a", "guided_b"))
    patients = sim.patients.assign(schedule=arms)
    write_dataset(type(sim)(patients=patients, prescriptions=sim.prescriptions.iloc[:0],
                            sessions=sim.sessions.iloc[:0], assessments=sim.assessments, truth=sim.truth), folder)
    for name in ("sessions", "prescriptions"):
        (folder / f"{name}.csv").unlink()
    plan = folder / "plan.toml"
    write_plan(AnalysisPlan(outcome="leg_pain", outcomes=("odi",), reference="usual_care",
                            covariates=("age_years", "sex")), plan)
    out = folder / "out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "outcomes", "compare", str(folder), "--plan", str(plan),
                           "--out", str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"scale: {args.patients:,} patients, 3 arms, {len(sim.assessments):,} assessments, no sessions")
    print(f"outcomes compare --plan: {seconds:.1f} s, exit {proc.returncode}; peak RSS of the child "
          f"{peak:,.0f} MB (ru_maxrss; includes the parent's if larger)")
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:])


if __name__ == "__main__":
    main()
