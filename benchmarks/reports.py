"""Benchmark: per-patient reports (PDF + HTML) for simulated patients, one and two processes.

Usage::

    python benchmarks/reports.py                  # 2,000 patients, jobs 1 and 2
    python benchmarks/reports.py --patients 200 --jobs 2

Prints, per run, seconds, patients/s and reports/s (a patient's report is its PDF and its HTML:
two files), and for one process the CPU milliseconds per page of each stage. Targets: one PDF
page ≤ 100 ms; ≥ 20 reports/s with two jobs. Figures vary up to ~2.5× on shared machines
(STACK.md): compare ratios from one run. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def bench_pages(cohort, n: int = 40) -> None:
    """CPU time per stage for ``n`` patients in this process (after one warm-up page)."""
    from outcomes.reports import patient as rp

    t = time.perf_counter()
    src = rp._Sources(cohort)  # includes the expected-recovery mixed model, fitted once per cohort
    print(f"cohort-level sources (flag summary, expected-recovery model of {src.expected.n_patients:,} patients): "
          f"{time.perf_counter() - t:.2f} s")
    ids = list(cohort.patient_summary["patient_id"][: n + 1])
    t0 = time.process_time()
    datas = [rp._report_data(src, pid) for pid in ids]
    t_data = (time.process_time() - t0) / len(ids)
    rp._page(datas[0]).fill(datas[0]).pdf_bytes()
    fill = pdf = html = 0.0
    for d in datas[1:]:
        a = time.process_time()
        page = rp._page(d).fill(d)
        b = time.process_time()
        page.pdf_bytes()
        c = time.process_time()
        rp._html_text(d, page.slot_images())
        e = time.process_time()
        fill, pdf, html = fill + b - a, pdf + c - b, html + e - c
    k = len(datas) - 1
    print(f"per page (CPU, one process, {k} pages): data {1000 * t_data:.0f} ms, layout+plots "
          f"{1000 * fill / k:.0f} ms, PDF {1000 * pdf / k:.0f} ms (page total {1000 * (fill + pdf) / k:.0f} ms), "
          f"HTML figures+template {1000 * html / k:.0f} ms")


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
          f"{2 * n / seconds:.1f} reports/s (PDF + HTML files), {size:.0f} MB written")
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
    args = ap.parse_args()

    from outcomes.cohort import Cohort
    from outcomes.simulate import simulate

    t0 = time.perf_counter()
    sim = simulate(args.patients, seed=args.seed)
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    print(f"scale: {args.patients:,} patients, {len(sim.sessions):,} sessions, {len(cohort.flags):,} flags "
          f"(simulated and built in {time.perf_counter() - t0:.1f} s)")
    bench_pages(cohort)
    for jobs in args.jobs:
        bench_reports(cohort, jobs)
    bench_audit(args.patients)


if __name__ == "__main__":
    main()
