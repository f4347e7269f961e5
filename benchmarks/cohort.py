"""Benchmark: build the Cohort (scores, change, adherence, progression, flags) from simulated frames.

Usage::

    python benchmarks/cohort.py                 # 20,000 patients
    python benchmarks/cohort.py --patients 2000

Prints seconds per stage and peak resident memory (VmHWM) of this process.
Target (issue 3): under 10 s and under 4 GB at 20,000 patients.
Not part of `make test`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from outcomes.cohort import Cohort
    from outcomes.simulate import simulate

    t0 = time.perf_counter()
    sim = simulate(args.patients, seed=args.seed)
    t1 = time.perf_counter()
    before = _peak_mb()
    cohort = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
                                prescriptions=sim.prescriptions)
    t2 = time.perf_counter()
    print(f"scale: {args.patients:,} patients, {len(sim.sessions):,} sessions, "
          f"{len(sim.assessments):,} assessments (simulated in {t1 - t0:.1f} s)")
    print(f"cohort build: {t2 - t1:.2f} s ({len(sim.sessions) / (t2 - t1):,.0f} sessions/s); "
          f"patient-weeks {len(cohort.patient_week):,}; flags {len(cohort.flags):,}")
    print(f"peak RSS: {_peak_mb():,.0f} MB (after simulating, before the build: {before:,.0f} MB)")


if __name__ == "__main__":
    main()
