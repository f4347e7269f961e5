"""Benchmark: MMRM fit time and peak memory at 1,000 / 5,000 / 20,000 patients (5 visits, unstructured).

Usage::

    python benchmarks/mmrm.py                        # 1,000, 5,000 and 20,000 patients
    python benchmarks/mmrm.py --sizes 1000 2000 --covariance ar1
    python benchmarks/mmrm.py --sizes 1000 --r       # also time nlme::gls on the same data

For each size a fresh Python process simulates a three-arm trial (``numpy`` seed 1):
a baseline, five post-baseline visits drawn from a multivariate normal with an
unstructured covariance (SDs 6 to 10, correlations 0.4 to 0.8), about 25 % monotone
dropout and 5 % intermittent missed visits, one row per patient and visit (missing
values kept as NaN rows). It then times ``fit_mmrm(..., covariance="unstructured")``
(everything: checks, design, optimisation from two starts, least-squares means,
Satterthwaite df) and reports the peak resident memory of the fit (VmHWM, reset through
``/proc/self/clear_refs`` just before it; "of which fit" is that peak minus the resident
memory just before the fit: the fit's own share, the rest being Python, pandas and the data). With ``--r`` and ``Rscript``, the same data
are written to a temporary CSV and fitted with ``nlme::gls(correlation = corSymm,
weights = varIdent, method = "REML")`` (elapsed time of ``gls`` only). Not part of the
test run.
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

R_SCRIPT = r"""
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d <- d[!is.na(d$y), ]
d <- d[order(d$id, d$visit), ]
d$arm <- factor(d$arm, levels = c("A", "B", "C"))
d$visit_f <- factor(d$visit)
t <- system.time(fit <- gls(y ~ baseline + visit_f * arm, data = d, method = "REML",
                            correlation = corSymm(form = ~ visit | id), weights = varIdent(form = ~ 1 | visit_f)))
cat(sprintf('{"seconds": %.4f, "loglik": %.10f}\n', t[["elapsed"]], as.numeric(logLik(fit))))
"""


def simulate(n: int, seed: int = 1, visits: int = 5):
    """A long-format three-arm trial with dropout (see the module docstring)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sd = np.linspace(6, 10, visits)
    idx = np.arange(visits)
    corr = 0.8 - 0.4 * np.abs(idx[:, None] - idx[None, :]) / max(visits - 1, 1)
    np.fill_diagonal(corr, 1.0)
    chol = np.linalg.cholesky(corr * np.outer(sd, sd))
    arm = rng.choice(np.array(["A", "B", "C"]), size=n)
    baseline = rng.normal(50, 8, n)
    effect = {"A": 0.0, "B": -2.0, "C": -4.0}
    y = (40 + 0.6 * (baseline - 50))[:, None] - np.linspace(1, 8, visits)[None, :] \
        + np.array([effect[a] for a in arm])[:, None] * np.linspace(0.3, 1, visits)[None, :] \
        + rng.standard_normal((n, visits)) @ chol.T
    drop_at = np.where(rng.random(n) < 0.25, rng.integers(1, visits, n), visits)
    observed = (idx[None, :] < drop_at[:, None]) & ~((rng.random((n, visits)) < 0.05) & (idx[None, :] > 0))
    return pd.DataFrame({"id": np.repeat(np.arange(n), visits), "arm": np.repeat(arm, visits),
                         "visit": np.tile(idx + 1, n), "baseline": np.repeat(baseline, visits),
                         "y": np.where(observed, y, np.nan).ravel()})


def _one(n: int, covariance: str, r_csv: str | None) -> dict:
    from outcomes.models.mmrm import fit_mmrm

    data = simulate(n)
    if r_csv:
        data.to_csv(r_csv, index=False)
    reset = _reset_peak()
    before = _peak_mb()
    t = time.perf_counter()
    fit = fit_mmrm(data, outcome="y", arm="arm", visit="visit", subject="id", baseline="baseline",
                   reference="A", covariance=covariance)
    seconds = time.perf_counter() - t
    return {"patients": n, "observations": fit.n_observations, "seconds": round(seconds, 3),
            "peak_mb": round(_peak_mb(), 1), "rss_before_mb": round(before, 1), "peak_reset": reset,
            "converged": fit.converged, "loglik": fit.loglik, "patterns": fit.meta["n_patterns"],
            "endpoint_C": float(fit.endpoint.loc[fit.endpoint["arm"] == "C", "estimate"].iloc[0])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--covariance", default="unstructured", choices=["unstructured", "compound_symmetry", "ar1"])
    ap.add_argument("--r", action="store_true", help="also time nlme::gls on the same data")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one, args.covariance, args.csv)))
        return 0
    rscript = shutil.which("Rscript") if args.r else None
    print(f"MMRM ({args.covariance}, 5 visits, 3 arms), each size in a fresh process")
    print(f"{'patients':>9} {'rows':>7} {'seconds':>8} {'peak MB':>8} {'of which fit':>12} {'patterns':>8} converged"
          + ("   R gls s  loglik diff" if rscript else ""))
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            csv = str(Path(tmp) / "mmrm.csv") if rscript else None
            cmd = [sys.executable, __file__, "--one", str(n), "--covariance", args.covariance]
            out = subprocess.run(cmd + (["--csv", csv] if csv else []), capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            line = (f"{res['patients']:>9,} {res['observations']:>7,} {res['seconds']:>8.2f} {res['peak_mb']:>8.0f} "
                    f"{res['peak_mb'] - res['rss_before_mb']:>12.0f} {res['patterns']:>8} {'yes' if res['converged'] else 'NO'}")
            if rscript:
                rs = Path(tmp) / "fit.R"
                rs.write_text(R_SCRIPT)
                r = subprocess.run([rscript, str(rs), csv], capture_output=True, text=True)
                if r.returncode == 0:
                    rj = json.loads(r.stdout.strip().splitlines()[-1])
                    line += f"   {rj['seconds']:>7.2f}  {res['loglik'] - rj['loglik']:+.2e}"
                else:
                    line += f"   R failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else '?'}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
