"""Benchmark: per-patient reports (PDF + HTML) for simulated patients, one and two processes.

Usage::

    python benchmarks/reports.py                  # 2,000 patients, jobs 1 and 2, then the audit
    python benchmarks/reports.py --patients 200 --jobs 2 --no-audit
    python benchmarks/reports.py --repeat 3       # best of three runs per job count

Prints the load average, per run seconds and patients/s (a patient's report is its PDF and its
HTML: two files), for one process the CPU milliseconds per patient of each stage, and the
anchor: a bare matplotlib A4 page with three small plots saved as PDF (what the report cost per
page before it was written without matplotlib). Target: ≥ 20 patients/s with two jobs, PDF and
HTML both. Figures vary up to ~2.5× on shared machines (STACK.md): compare ratios from one run.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def load() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine's 2 cores)."""
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def bench_pages(cohort, n: int = 40) -> None:
    """CPU time per stage for ``n`` patients in this process (after one warm-up page)."""
    import pickle

    from outcomes.reports import patient as rp

    t = time.perf_counter()
    src = rp._Sources(cohort)  # includes the expected-recovery mixed model, fitted once per cohort
    print(f"cohort-level sources (flag summary, expected-recovery model of {src.expected.n_patients:,} patients): "
          f"{time.perf_counter() - t:.2f} s")
    ids = list(cohort.patient_summary["patient_id"][: n + 1])
    t0 = time.process_time()
    datas = [rp._report_data(src, pid) for pid in ids]
    t_data = (time.process_time() - t0) / len(ids)
    t0 = time.process_time()
    for d in datas:
        pickle.loads(pickle.dumps(d))
    t_pickle = (time.process_time() - t0) / len(ids)
    rp._page(datas[0]).pdf_bytes()
    draw = pdf = html = 0.0
    for d in datas[1:]:
        a = time.process_time()
        page = rp._page(d)
        b = time.process_time()
        page.pdf_bytes()
        c = time.process_time()
        rp._html_text(d, page.slot_images())
        e = time.process_time()
        draw, pdf, html = draw + b - a, pdf + c - b, html + e - c
    k = len(datas) - 1
    print(f"per patient (CPU, one process, {k} pages): data {1000 * t_data:.1f} ms (+ pickling to a worker "
          f"{1000 * t_pickle:.1f} ms), page drawing {1000 * draw / k:.1f} ms, PDF {1000 * pdf / k:.1f} ms, "
          f"HTML figures + template {1000 * html / k:.1f} ms; render total {1000 * (draw + pdf + html) / k:.1f} ms")


def bench_anchor(n: int = 20) -> float:
    """The anchor: a bare matplotlib A4 page with three small line plots, saved as PDF; ms per page."""
    import io

    import numpy as np
    from matplotlib.figure import Figure

    x = np.arange(12.0)
    t0 = time.perf_counter()
    for i in range(n):
        fig = Figure(figsize=(8.27, 11.69))
        for k in range(3):
            ax = fig.add_axes((0.12, 0.70 - 0.3 * k, 0.8, 0.2))
            ax.plot(x, np.sin(x + i + k), marker="o")
            ax.set_xlabel("Weeks since enrolment")
            ax.set_ylabel("NRS 0-10")
        fig.savefig(io.BytesIO(), format="pdf")
    ms = 1000 * (time.perf_counter() - t0) / n
    print(f"anchor: bare matplotlib A4 page, 3 small plots, PDF: {ms:.0f} ms/page ({1000 / ms:.1f} pages/s, one process)")
    return ms

def bench_reports(cohort, jobs: int) -> float:
    """Write every patient's reports with ``jobs`` processes; return seconds."""
    from outcomes.reports.patient import write_patient_reports

    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        t0 = time.perf_counter()
        result = write_patient_reports(cohort, Path(tmp), jobs=jobs, progress=None)
        seconds = time.perf_counter() - t0
        n = result["n"]
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    print(f"jobs={jobs}: {n:,} patients in {seconds:.1f} s: {n / seconds:.1f} patients/s, "
          f"{2 * n / seconds:.1f} files/s (PDF + HTML), {size:.0f} MB written; {load()}")
    return seconds


# ---------------------------------------------------------------- audit
def bench_audit(n_patients: int, seed: int = 1) -> float:
    """Audit report (HTML, PDF, CSV, XLSX, JSON) for ``n_patients`` simulated patients; return seconds.

    Target: under 60 s at 20,000 patients (``python -c "from benchmarks.reports import bench_audit;
    bench_audit(20_000)"``). Prints the time of each stage: KPIs, funnels and case mix; figures; the
    whole report; and the output sizes.
    """
    from outcomes.cohort import Cohort
    from outcomes.reports import audit as ra
    from outcomes.simulate import simulate

    t0 = time.perf_counter()
    sim = simulate(n_patients, seed=seed)
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    t1 = time.perf_counter()
    audit = ra._compute(cohort, dataset=None, targets=ra.DEFAULT_TARGETS, k=11)
    t2 = time.perf_counter()
    ra._figures(audit)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        t4 = time.perf_counter()
        written = ra.write_audit_report(cohort, tmp)
        seconds = time.perf_counter() - t4
        sizes = ", ".join(f"{name} {Path(p).stat().st_size / 1e3:,.0f} kB" for name, p in written.items())
    print(f"audit, {n_patients:,} patients ({len(sim.sessions):,} sessions; simulated and built in "
          f"{t1 - t0:.1f} s): KPIs + funnels + case mix {t2 - t1:.1f} s, figures {t3 - t2:.1f} s; "
          f"whole report {seconds:.1f} s (target < 60 s at 20,000)")
    print(f"audit outputs: {sizes}")
    return seconds


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="runs per job count; the best is reported")
    ap.add_argument("--no-audit", action="store_true", help="skip the audit report benchmark")
    args = ap.parse_args()

    from outcomes.cohort import Cohort
    from outcomes.simulate import simulate

    t0 = time.perf_counter()
    sim = simulate(args.patients, seed=args.seed)
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    print(f"scale: {args.patients:,} patients, {len(sim.sessions):,} sessions, {len(cohort.flags):,} flags "
          f"(simulated and built in {time.perf_counter() - t0:.1f} s)")
    print(load())
    bench_pages(cohort)
    anchor = bench_anchor()
    for jobs in args.jobs:
        best = min(bench_reports(cohort, jobs) for _ in range(args.repeat))
        rate = args.patients / best
        print(f"jobs={jobs} best of {args.repeat}: {rate:.1f} patients/s "
              f"({rate * anchor / 1000:.1f}x the bare matplotlib page's rate in one process)"
              + (f"; target >= 20/s: {'met' if rate >= 20 else 'NOT met'}" if jobs == 2 else ""))
    if not args.no_audit:
        bench_audit(args.patients)


if __name__ == "__main__":
    main()
