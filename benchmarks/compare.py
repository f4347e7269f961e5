"""Benchmark: `outcomes compare --plan` end to end on an assessments-only, three-arm trial.

Usage::

    python benchmarks/compare.py                  # 20,000 patients, best of 3 runs
    python benchmarks/compare.py --patients 5000 --runs 1
    python benchmarks/compare.py --profile        # also the 25 most expensive calls (cProfile)

A simulated cohort (visits at weeks 0, 2, 4, 6, 8, 12) is written as patients
and assessments only, its two schedules relabelled into three arms (the
guided arm split at random), then `outcomes compare DATA --plan PLAN --out DIR`
runs in a child process (data, plan and output in three separate folders),
``--runs`` times. Prints the load average before each run (the machine is
shared: take the best run on a quiet moment), the seconds end to end, the
child's peak memory and, from the ``models.json`` of the best run, each
model's ``fit_seconds`` (for the mixed models: design matrices and the REML
fit; for the others: the whole analysis call; for the multiple imputation the
imputations and their analyses, for the tipping point the δ grid after it).
Then one more run of the same command in a child process that times its
stages (start-up and imports, reading and checking, the models, the CSV
tables, the report's figures and HTML, the PDF). Target (issue 14): <= 15 s at
20,000 patients. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _stages_child(folder: str, plan: str, out: str) -> None:
    """Run `outcomes compare` in this process, timing its stages (printed as one JSON line)."""
    t_start = time.perf_counter()
    marks: dict[str, list[float]] = {}  # stage: [wall seconds, CPU seconds]

    def add(key, wall, cpu):
        mark = marks.setdefault(key, [0.0, 0.0])
        mark[0] += wall
        mark[1] += cpu

    def timed(module, name, key):
        func = getattr(module, name)

        def wrapper(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                add(key, time.perf_counter() - t0, time.process_time() - c0)
        setattr(module, name, wrapper)

    from outcomes.cli import main

    t0, c0 = time.perf_counter(), time.process_time()
    import outcomes.models.compare  # noqa: F401  (what compare's run() imports: models, report, plan)
    import outcomes.reports.compare as report
    add("imports (models, report)", time.perf_counter() - t0, time.process_time() - c0)
    import outcomes.cli.compare as cli_compare
    timed(cli_compare, "_time_axis", "reading the plan and description")
    timed(cli_compare, "load_cohort", "reading and checking the data")
    timed(outcomes.models.compare, "compare_schedules", "models (compare_schedules)")
    timed(report, "write_comparison", "CSV tables and models.json")
    timed(report, "compare_report_data", "report: tables and figures")
    timed(report, "html_to_pdf", "report: PDF (WeasyPrint, with its import)")
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            status = main(["compare", folder, "--plan", plan, "--out", out])
        finally:
            sys.stdout = stdout
    total = time.perf_counter() - t_start
    print(json.dumps({"status": status, "total": total, "cpu": time.process_time(), "stages": marks}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3, help="end-to-end runs; the best is reported (default 3)")
    ap.add_argument("--profile", action="store_true", help="run the child under cProfile and print the top calls")
    ap.add_argument("--stages-child", nargs=3, metavar=("DATA", "PLAN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stages_child:
        _stages_child(*args.stages_child)
        return

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
    print(f"scale: {args.patients:,} patients, 3 arms, {len(sim.assessments):,} assessments, no sessions; "
          f"{os.cpu_count()} cores")
    prof = root / "compare.prof"
    child = ["-m", "cProfile", "-o", str(prof)] if args.profile else []
    runs = []
    for i in range(max(1, args.runs)):
        out = root / f"out{i}"
        load = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *child, "-m", "outcomes", "compare", str(folder), "--plan", str(plan),
                               "--out", str(out)], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        print(f"run {i + 1}: {seconds:5.1f} s end to end, exit {proc.returncode} "
              f"(load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
        if proc.returncode not in (0, 1) or not (out / "models.json").is_file():
            print(proc.stderr[-2000:])
            return
        runs.append((seconds, out))
    seconds, out = min(runs)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"outcomes compare --plan: {seconds:.1f} s end to end (best of {len(runs)})"
          f"{' (under cProfile)' if args.profile else ''}; target <= 15 s; peak RSS of a child {peak:,.0f} MB "
          f"(ru_maxrss; includes the parent's if larger)")
    models = json.loads((out / "models.json").read_text())
    models = models["models"] if isinstance(models, dict) else models
    total = 0.0
    print("per model (fit_seconds from models.json of the best run):")
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
        return
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--stages-child", str(folder), str(plan), str(root / "stages")],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print("stage timing run failed:", proc.stderr[-2000:])
        return
    print(f"stages (one more run, timed inside the child; {wall:.1f} s end to end, load average before "
          f"{load[0]:.2f}; on a busy machine the CPU seconds are closer to what a quiet one takes):")
    print(f"  {'':<44} {'wall':>8} {'CPU':>8}")
    stages = info["stages"]
    for name, (w, c) in stages.items():
        print(f"  {name:<44} {w:6.2f} s {c:6.2f} s")
    rest_wall = wall - sum(w for w, _ in stages.values())
    rest_cpu = info["cpu"] - sum(c for _, c in stages.values())
    print(f"  {'interpreter start-up, CLI, writing the HTML':<44} {rest_wall:6.2f} s {rest_cpu:6.2f} s")
    print(f"  {'total':<44} {wall:6.2f} s {info['cpu']:6.2f} s")


if __name__ == "__main__":
    main()
