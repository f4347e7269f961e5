"""Benchmark: the default trajectory mixed model (statsmodels) against R lme4 on the same data.

Usage::

    python benchmarks/models.py                      # 500, 5,000 and 20,000 patients
    python benchmarks/models.py --sizes 500 2000

For each size a fresh Python process simulates the cohort (``simulate(n, seed=1)``),
builds it, makes the analysis frame (``trajectory_data``) and fits
``fit_trajectory(..., reference="weekly")`` (REML, lbfgs with fallbacks); it reports
the fit's seconds and peak resident memory (VmHWM, reset through
``/proc/self/clear_refs`` just before the fit, so the peak is the fit's own and not
the simulation's; each size runs in its own process). When ``Rscript`` and lme4 are installed, the same frame is
written to a temporary CSV and fitted with ``lme4::lmer(y ~ week * schedule +
adherence_between + adherence_within + level + (week | patient_id), REML = TRUE)``
(default control); its seconds (``system.time`` around ``lmer``), peak memory
(``/usr/bin/time``, when present), the statsmodels/lme4 time ratio and the largest
fixed-effect difference are printed. Not part of the test run.
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

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$schedule <- factor(d$schedule, levels = c("weekly", "guided"))
f <- y ~ week * schedule + adherence_between + adherence_within + level + (week | patient_id)
t <- system.time(fit <- lmer(f, data = d, REML = TRUE))[["elapsed"]]
fe <- fixef(fit)
names(fe) <- sub("^\\(Intercept\\)$", "Intercept", names(fe))
names(fe) <- gsub("scheduleguided", "schedule[T.guided]", names(fe), fixed = TRUE)
msgs <- fit@optinfo$conv$lme4$messages
cat(sprintf('{"seconds": %.4f, "loglik": %.10f, "messages": %d, "fixed": {%s}}\n', t, as.numeric(logLik(fit)),
            length(msgs), paste(sprintf('"%s": %.12g', names(fe), fe), collapse = ", ")))
"""


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the fit's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _one(n: int, seed: int, csv: str) -> None:
    """Child process: simulate, build, fit; print one JSON line."""
    import warnings

    from outcomes.cohort import Cohort
    from outcomes.models.trajectory import fit_trajectory, trajectory_data
    from outcomes.simulate import simulate

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    sim = simulate(n, seed=seed)
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    data = trajectory_data(cohort)
    before = _peak_mb()
    reset = _reset_peak()
    t1 = time.perf_counter()
    result = fit_trajectory(data, reference="weekly")
    t2 = time.perf_counter()
    if csv:
        data.to_csv(csv, index=False, float_format="%.10g")
    print(json.dumps({
        "patients": n, "rows": len(data), "prepare_s": t1 - t0, "fit_s": t2 - t1,
        "fit_peak_mb": _peak_mb() if reset else None, "peak_before_fit_mb": before, "method": result.method, "converged": result.converged,
        "attempts": [a["optimizer"] for a in result.meta["attempts"]],
        "fixed": dict(zip(result.table["term"], result.table["estimate"])),
        "loglik": result.meta["reml_loglik"],
    }))


def _run_r(csv: str) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        script = fh.name
    cmd = [rscript, script, csv]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer:
        cmd = [timer, "-f", "MAXRSS_KB %M", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    Path(script).unlink(missing_ok=True)
    if proc.returncode != 0:
        print(f"  lme4 failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for line in proc.stderr.splitlines():
        if line.startswith("MAXRSS_KB"):
            out["peak_mb"] = int(line.split()[1]) / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 5_000, 20_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--csv", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(args.one, args.seed, args.csv)
        return

    has_r = shutil.which("Rscript") is not None
    print(f"trajectory LMM, default model, simulate(n, seed={args.seed}); lme4: "
          f"{'yes' if has_r else 'not available (no Rscript)'}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            csv = str(Path(tmp) / f"trajectory_{n}.csv") if has_r else ""
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--seed", str(args.seed),
                                   "--csv", csv], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{n:>7,} patients: failed\n{proc.stderr.strip()[-2000:]}")
                continue
            py = json.loads(proc.stdout.strip().splitlines()[-1])
            during = "n/a" if py["fit_peak_mb"] is None else f"{py['fit_peak_mb']:,.0f} MB"
            line = (f"{n:>7,} patients, {py['rows']:>7,} rows: statsmodels {py['fit_s']:6.2f} s "
                    f"({py['method']}, converged {py['converged']}, tried {'/'.join(py['attempts'])}); "
                    f"peak RSS during the fit {during} (simulating and building the cohort before it: "
                    f"{py['peak_before_fit_mb']:,.0f} MB)")
            print(line, flush=True)
            r = _run_r(csv) if has_r else None
            if r is not None:
                diff = max(abs(py["fixed"][k] - v) for k, v in r["fixed"].items())
                mem = f", peak RSS {r['peak_mb']:,.0f} MB" if "peak_mb" in r else ""
                print(f"{'':>9}lme4 {r['seconds']:6.2f} s{mem}; statsmodels/lme4 time ratio "
                      f"{py['fit_s'] / r['seconds']:.1f}; max |fixed-effect difference| {diff:.1e}; "
                      f"REML logLik statsmodels - lme4 {py['loglik'] - r['loglik']:+.2e}; "
                      f"lme4 convergence messages: {r['messages']}", flush=True)


if __name__ == "__main__":
    main()
