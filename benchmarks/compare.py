"""Benchmark: `outcomes compare --plan` end to end on an assessments-only, three-arm trial.

Usage::

    python benchmarks/compare.py                  # 20,000 patients
    python benchmarks/compare.py --patients 5000
    python benchmarks/compare.py --profile        # also the 25 most expensive calls (cProfile)

A simulated cohort (visits at weeks 0, 2, 4, 6, 8, 12) is written as patients
and assessments only, its two schedules relabelled into three arms (the
guided arm split at random), then `outcomes compare DATA --plan PLAN --out DIR`
runs in a child process (data, plan and output in three separate folders). Prints the
seconds end to end, the child's peak memory and, from the ``models.json`` it
wrote, each model's ``fit_seconds`` (for the mixed models: design matrices and
the REML fit; for the others: the whole analysis call) and what is left for
reading, checking, tables, figures and the report. Target (issue 14): <= 15 s at
20,000 patients. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import pstats
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
    ap.add_argument("--profile", action="store_true", help="run the child under cProfile and print the top calls")
    args = ap.parse_args()

    from outcomes.plan import AnalysisPlan, write_plan
    from outcomes.simulate import simulate, write_dataset

    root = Path(tempfile.mkdtemp(prefix="outcomes-bench-compare-"))
    folder = root / "data"
    folder.mkdir()
    sim = simulate(args.patients, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    arms = np.where(sim.patients["schedule"] == "weekly", "usual_care",
                    np.where(rng.random(len(sim.patients)) < 0.5, "guided_a", "guided_b"))
    patients = sim.patients.assign(schedule=arms)
    write_dataset(type(sim)(patients=patients, prescriptions=sim.prescriptions.iloc[:0],
                            sessions=sim.sessions.iloc[:0], assessments=sim.assessments, truth=sim.truth), folder)
    for name in ("sessions", "prescriptions"):
        (folder / f"{name}.csv").unlink()
    (root / "plan").mkdir()
    plan = root / "plan" / "plan.toml"
    write_plan(AnalysisPlan(outcome="leg_pain", outcomes=("odi",), reference="usual_care",
                            covariates=("age_years", "sex")), plan)
    out = root / "out"
    prof = root / "compare.prof"
    child = ["-m", "cProfile", "-o", str(prof)] if args.profile else []
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *child, "-m", "outcomes", "compare", str(folder), "--plan", str(plan),
                           "--out", str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"scale: {args.patients:,} patients, 3 arms, {len(sim.assessments):,} assessments, no sessions")
    print(f"outcomes compare --plan: {seconds:.1f} s end to end{' (under cProfile)' if args.profile else ''}, "
          f"exit {proc.returncode}; peak RSS of the child {peak:,.0f} MB (ru_maxrss; includes the parent's if larger)")
    if proc.returncode not in (0, 1) or not (out / "models.json").is_file():
        print(proc.stderr[-2000:])
        return
    models = json.loads((out / "models.json").read_text())
    models = models["models"] if isinstance(models, dict) else models
    total = 0.0
    print("per model (fit_seconds from models.json):")
    for m in models:
        s = m.get("fit_seconds")
        total += s or 0.0
        print(f"  {m['model']:<40} {'n/a' if s is None else f'{s:6.2f} s'}"
              + (f"  (n = {m['n_observations']:,})" if m.get("n_observations") else ""))
    print(f"  {'all models':<40} {total:6.2f} s; everything else (start-up, reading and checking, tables, "
          f"figures, report, writing) {seconds - total:6.2f} s")
    if args.profile:
        print("\nmost expensive calls (cumulative):")
        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
