"""Benchmark: build the Cohort (scores, change, adherence, progression, flags) and compute the audit from
simulated frames already in memory.

Usage::

    python benchmarks/cohort.py                          # 20,000 patients: build only
    python benchmarks/cohort.py --patients 20000 200000 --audit
    python benchmarks/cohort.py --patients 1000000 --audit --narrow --piece 100000

For each scale, in a fresh child process (so one scale's peak never hides another's), prints the load
average, the input frames' size, seconds for the cohort build and for `compute_audit`, and the peak
resident memory (VmHWM, reset after simulating, so it is the build's and audit's own peak on top of the
frames) in MB and in KB per patient.

``--narrow`` types the simulated frames as a memory-lean loader would (text codes as categoricals,
small whole numbers as Int8/Int16/Int32); ``--piece`` simulates in pieces of that many patients (distinct
codes and seeds per piece) and binds them, so a million patients never need one huge simulation.
Target (issue 14): 200,000 patients build and audit under 4 GB peak with loading; 1,000,000 run on a
24 GB machine. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import _peak_mb, _reset_peak, _rss_mb  # noqa: E402

_KEEP_TEXT = {"session_id", "note"}  # unique or free text: stays a string column


def _trim() -> None:
    """Hand freed heap back to the OS (glibc), so the resident size before the build is the frames' own,
    not what simulating left behind."""
    from outcomes.io._chunks import give_back_memory

    gc.collect()
    give_back_memory()


def _narrow(frame):
    """Categoricals for text codes, the smallest nullable integer that holds each whole-number column."""
    import pandas as pd

    out = {}
    for c in frame.columns:
        col = frame[c]
        if (col.dtype == "str" or col.dtype == object) and c not in _KEEP_TEXT:
            out[c] = col.astype("category")
        elif isinstance(col.dtype, pd.Int64Dtype):
            lo, hi = col.min(), col.max()
            kind = next((k for k, b in (("Int8", 127), ("Int16", 32767), ("Int32", 2**31 - 1))
                         if pd.isna(lo) or (-b <= lo and hi <= b)), "Int64")
            out[c] = col.astype(kind)
        else:
            out[c] = col
    return pd.DataFrame(out)


def _bind(frames: list[dict]) -> "pd.DataFrame":
    """Row-bind pieces (dicts of columns) column by column, letting each piece's column go once bound;
    categoricals are unioned (a plain concat would make them text)."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    cols = {}
    for c in list(frames[0]):
        parts = [f.pop(c) for f in frames]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            cols[c] = pd.Series(union_categoricals(parts), name=c)
        else:
            cols[c] = pd.concat(parts, ignore_index=True)
        del parts
        gc.collect()
    return pd.DataFrame(cols)


def _simulate(n: int, seed: int, piece: int, narrow: bool) -> dict:
    from outcomes.simulate import simulate

    names = ("patients", "assessments", "sessions", "prescriptions")
    if piece >= n:
        sim = simulate(n, seed=seed)
        return {k: (_narrow(getattr(sim, k)) if narrow else getattr(sim, k)) for k in names}
    pieces: dict[str, list] = {k: [] for k in names}
    for i, start in enumerate(range(0, n, piece)):
        sim = simulate(min(piece, n - start), seed=seed + i)
        for k in names:
            f = getattr(sim, k)
            f = f.assign(patient_id=f"Q{i:03d}" + f["patient_id"])
            if "session_id" in f.columns:
                f = f.assign(session_id=f"Q{i:03d}" + f["session_id"])
            pieces[k].append(dict((_narrow(f) if narrow else f).items()))
        del sim, f
        gc.collect()
    return {k: _bind(v) for k, v in pieces.items()}


def run_one(n: int, seed: int, piece: int, narrow: bool, audit: bool) -> dict:
    from outcomes.cohort import Cohort

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    frames = _simulate(n, seed, piece, narrow)
    t1 = time.perf_counter()
    _trim()
    input_mb = sum(f.memory_usage(deep=True).sum() for f in frames.values()) / 2**20
    rss_before = _rss_mb()
    reset = _reset_peak()
    t2 = time.perf_counter()
    cohort = Cohort.from_frames(frames["patients"], frames["assessments"], sessions=frames["sessions"],
                                prescriptions=frames["prescriptions"])
    t3 = time.perf_counter()
    build_peak = _peak_mb()
    audit_s = float("nan")
    if audit:
        from outcomes.models.audit import compute_audit

        t4 = time.perf_counter()
        result = compute_audit(cohort)
        audit_s = time.perf_counter() - t4
        assert len(result.kpis)
    return {"patients": n, "sessions": len(frames["sessions"]), "narrow": narrow,
            "simulate_s": t1 - t0, "input_mb": input_mb, "rss_before_mb": rss_before, "peak_reset": reset,
            "build_s": t3 - t2, "build_peak_mb": build_peak, "audit_s": audit_s, "peak_mb": _peak_mb(),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[20_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--piece", type=int, default=200_000, help="simulate in pieces of this many patients")
    ap.add_argument("--narrow", action="store_true", help="categorical text codes and small integers")
    ap.add_argument("--audit", action="store_true", help="also compute the audit (compute_audit)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.patients[0], args.seed, args.piece, args.narrow, args.audit)))
        return
    print(f"{'patients':>10} {'sessions':>11} {'dtypes':>6} {'input MB':>9} {'RSS MB':>7} {'build s':>8} "
          f"{'audit s':>8} {'peak MB':>8} {'KB/patient':>10}  load avg (before/after)")
    for n in args.patients:
        cmd = [sys.executable, __file__, "--child", "--patients", str(n), "--seed", str(args.seed),
               "--piece", str(args.piece)] + ["--narrow"] * args.narrow + ["--audit"] * args.audit
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{n:>10,} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{n:>10,} {r['sessions']:>11,} {'narrow' if r['narrow'] else 'as sim':>6} {r['input_mb']:>9,.0f} "
              f"{r['rss_before_mb']:>7,.0f} {r['build_s']:>8.1f} {r['audit_s']:>8.1f} {r['peak_mb']:>8,.0f} "
              f"{r['peak_mb'] * 1024 / n:>10.1f}  {r['load_before']:.1f}/{r['load_after']:.1f}"
              + ("" if r["peak_reset"] else "  (peak includes simulating: VmHWM could not be reset)"))
    print("RSS MB: resident after simulating (the frames and libraries); peak MB: the highest resident memory "
          "while building and auditing, frames included.")


if __name__ == "__main__":
    main()
