"""Benchmark: the trajectory mixed model, our REML engine against statsmodels and R lme4 on the same data.

Usage::

    python benchmarks/models.py                      # 5,000 and 20,000 patients
    python benchmarks/models.py --sizes 500 2000 --no-statsmodels

For each size a fresh Python process simulates the cohort (``simulate(n, seed=1)``),
builds it and makes the analysis frame (``trajectory_data``), then times

* ``fit_trajectory(data, reference="weekly")``: the project's REML engine
  (``outcomes.models._reml``; design matrices, two starts and the convergence checks
  included), and its peak resident memory (VmHWM reset just before the fit);
* statsmodels ``MixedLM(...).fit(reml=True, method="lbfgs")`` on the same design
  (BLAS pinned to one thread as for ours, its best case), unless ``--no-statsmodels``;
* R ``lme4::lmer`` with its default control, by running ``benchmarks/lme4_timing.R``
  on the same frame written to a temporary CSV (``system.time`` around ``lmer``;
  skipped with a note when ``Rscript`` is absent).

Model: ``y ~ week * schedule + adherence_between + adherence_within + level`` with a
random intercept and week slope per patient, REML. Printed per size: seconds of each,
our time / lme4's (target <= 1), the largest fixed-effect difference from lme4 and the
REML log-likelihood difference (ours − lme4; positive = ours is higher). Not part of
the test run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import _peak_mb, _reset_peak  # benchmarks/_memory.py (the scripts run from benchmarks/)

R_SCRIPT = Path(__file__).with_name("lme4_timing.R")


def _one(n: int, seed: int, csv: str, statsmodels: bool) -> None:
    """Child process: simulate, build, fit with ours (and statsmodels); print one JSON line."""
    import warnings

    import numpy as np
    import patsy

    from outcomes.cohort import Cohort
    from outcomes.models._reml import single_thread_blas
    from outcomes.models.trajectory import fit_trajectory, trajectory_data
    from outcomes.simulate import simulate

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    sim = simulate(n, seed=seed)
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    data = trajectory_data(cohort)
    if csv:
        data.to_csv(csv, index=False, float_format="%.10g")
    reset = _reset_peak()
    t1 = time.perf_counter()
    result = fit_trajectory(data, reference="weekly")
    t2 = time.perf_counter()
    out = {"patients": n, "rows": len(data), "prepare_s": t1 - t0, "ours_s": t2 - t1,
           "ours_peak_mb": _peak_mb() if reset else None, "converged": result.converged,
           "evaluations": [a["evaluations"] for a in result.meta["attempts"]],
           "fixed": dict(zip(result.table["term"], result.table["estimate"])),
           "loglik": result.meta["reml_loglik"]}
    if statsmodels:
        from statsmodels.regression.mixed_linear_model import MixedLM

        frame = result.data
        y, x = patsy.dmatrices(result.meta["fixed_formula"], frame, return_type="dataframe")
        z = np.column_stack([np.ones(len(frame)), frame["week"].to_numpy()])
        with single_thread_blas():
            t3 = time.perf_counter()
            sm = MixedLM(y.iloc[:, 0], x, groups=frame["patient_id"].to_numpy(), exog_re=z).fit(
                reml=True, method="lbfgs")
            out["statsmodels_s"] = time.perf_counter() - t3
        out["statsmodels_loglik"] = float(sm.llf)
        out["statsmodels_converged"] = bool(sm.converged)
    print(json.dumps(out))


def _run_r(csv: str) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    proc = subprocess.run([rscript, str(R_SCRIPT), csv, "slope"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  lme4 failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-statsmodels", action="store_true", help="skip the statsmodels fit (34 s at 20,000)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--csv", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(args.one, args.seed, args.csv, not args.no_statsmodels)
        return

    has_r = shutil.which("Rscript") is not None
    print(f"trajectory LMM (random intercept and slope, REML), simulate(n, seed={args.seed}); lme4: "
          f"{'yes (default lmer control)' if has_r else 'skipped: Rscript not found'}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            csv = str(Path(tmp) / f"trajectory_{n}.csv") if has_r else ""
            cmd = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed), "--csv", csv]
            proc = subprocess.run(cmd + (["--no-statsmodels"] if args.no_statsmodels else []),
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{n:>7,} patients: failed\n{proc.stderr.strip()[-2000:]}")
                continue
            py = json.loads(proc.stdout.strip().splitlines()[-1])
            peak = "n/a" if py["ours_peak_mb"] is None else f"{py['ours_peak_mb']:,.0f} MB"
            line = (f"{n:>7,} patients, {py['rows']:>7,} rows: ours {py['ours_s']:6.2f} s (converged "
                    f"{py['converged']}, evaluations {'+'.join(map(str, py['evaluations']))}, peak RSS {peak})")
            if "statsmodels_s" in py:
                line += (f"; statsmodels {py['statsmodels_s']:6.2f} s (converged {py['statsmodels_converged']}, "
                         f"REML logLik ours - statsmodels {py['loglik'] - py['statsmodels_loglik']:+.2e})")
            print(line, flush=True)
            r = _run_r(csv) if has_r else None
            if r is not None:
                diff = max(abs(py["fixed"][k] - v) for k, v in r["fixed"].items())
                print(f"{'':>9}lme4 {r['seconds']:6.2f} s; ours/lme4 time ratio {py['ours_s'] / r['seconds']:.2f} "
                      f"(target <= 1); max |fixed-effect difference| {diff:.1e}; REML logLik ours - lme4 "
                      f"{py['loglik'] - r['loglik']:+.2e}; lme4 convergence messages: {r['messages']}", flush=True)
            elif not has_r:
                print(f"{'':>9}lme4: skipped (no Rscript on PATH)", flush=True)


if __name__ == "__main__":
    main()
