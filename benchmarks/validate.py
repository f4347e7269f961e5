"""Benchmark: read + validate a simulated dataset and write its outputs; prints rows/s, seconds, peak memory.

Usage::

    python benchmarks/validate.py                      # 20,000 patients, CSV
    python benchmarks/validate.py --patients 200000 --format parquet
    python benchmarks/validate.py --repeat 3           # best of three runs (shared machines)
    python benchmarks/validate.py --format parquet --out-format parquet   # Parquet in, Parquet out

The dataset is simulated once per (patients, seed, format) into a cache folder
(default: the system temp folder). Each run is a fresh child process that reads and
validates it (``load_dataset``), then writes what ``outcomes validate --out`` writes
(``write_validation``: accepted and quarantined rows, validation.json and .html), so the
peak resident memory reported is that of the run alone (with the interpreter and libraries,
measured separately as the baseline). In the same session another child reads the same files
with a bare ``pandas.read_csv`` (``pandas.read_parquet`` for Parquet): the anchor the
project's time is compared with (issue 14: validate with outputs at >= 1 M rows/s and
within 3x of that read). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import _peak_mb  # noqa: E402  (benchmarks/_memory.py)


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes (VmHWM; ru_maxrss is inherited across fork+exec)."""
    return int(_peak_mb() * 1024 * 1024)


def _anchor(folder: str) -> None:
    """A bare pandas read of every export: the yardstick."""
    import pandas as pd

    base = _peak_rss()
    t0 = time.perf_counter()
    rows = 0
    for path in sorted(Path(folder).iterdir()):
        if path.suffix == ".csv":
            rows += len(pd.read_csv(path))
        elif path.suffix == ".parquet":
            rows += len(pd.read_parquet(path))
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows, "peak_rss": _peak_rss(),
                      "baseline_rss": base}))


def _roundtrip(folder: str, out_format: str) -> None:
    """A bare Arrow round trip with no rules: read every export and write it in ``out_format``.

    The floor for any validation that writes its outputs: pyarrow's multi-threaded reader (types
    inferred) and writer, each file synced to disk as ``write_validation`` does.
    """
    import os
    import shutil

    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    out_dir = Path(tempfile.mkdtemp(prefix="outcomes-bench-rt-"))
    t0 = time.perf_counter()
    rows = 0
    try:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix not in (".csv", ".parquet"):
                continue
            table = pv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
            rows += table.num_rows
            with open(out_dir / f"{path.stem}.{out_format}", "wb") as fh:
                if out_format == "parquet":
                    pq.write_table(table, fh)
                else:
                    pv.write_csv(table, fh)
                fh.flush()
                os.fsync(fh.fileno())
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    print(json.dumps({"seconds": seconds, "rows": rows}))


def _child(folder: str, out_format: str) -> None:
    import shutil

    import pandas  # noqa: F401  (baseline includes the libraries)

    import outcomes
    from outcomes.io import write_validation

    base = _peak_rss()
    t0 = time.perf_counter()
    ds = outcomes.load_dataset(folder)
    seconds = time.perf_counter() - t0
    peak_load = _peak_rss()
    out_dir = Path(tempfile.mkdtemp(prefix="outcomes-bench-out-"))
    try:
        t1 = time.perf_counter()
        write_validation(ds, out_dir, out_format=out_format)
        write_seconds = time.perf_counter() - t1
        out_bytes = sum(p.stat().st_size for p in out_dir.iterdir())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    peak = _peak_rss()
    out = {"seconds": seconds, "write_seconds": write_seconds, "out_bytes": out_bytes, "peak_load": peak_load,
           "peak_rss": peak, "baseline_rss": base, "exports": {}}
    for name, r in ds.exports.items():
        frame_bytes = 0 if r.data is None else int(r.data.memory_usage(deep=True).sum())
        out["exports"][name] = {"rows_read": r.rows_read, "accepted": r.accepted,
                                "quarantined": r.quarantined, "frame_bytes": frame_bytes,
                                "file_bytes": r.path.stat().st_size if r.path else 0}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv", help="the simulated exports' format")
    ap.add_argument("--out-format", choices=("csv", "parquet"), default="csv",
                    help="the accepted rows' files (outcomes validate --out-format)")
    ap.add_argument("--cache", default=tempfile.gettempdir())
    ap.add_argument("--repeat", type=int, default=1, help="runs of each child; the best time is shown")
    ap.add_argument("--no-anchor", action="store_true", help="skip the anchors (bare pandas read, bare round trip)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--anchor", help=argparse.SUPPRESS)
    ap.add_argument("--roundtrip", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.out_format)
        return
    if args.anchor:
        _anchor(args.anchor)
        return
    if args.roundtrip:
        _roundtrip(args.roundtrip, args.out_format)
        return
    from outcomes.simulate import simulate, write_dataset

    folder = Path(args.cache) / f"outcomes-bench-{args.patients}-{args.seed}-{args.format}"
    if not (folder / "sessions.done").exists():
        t0 = time.perf_counter()
        ds = simulate(args.patients, seed=args.seed)
        t1 = time.perf_counter()
        write_dataset(ds, folder, format=args.format)
        (folder / "sessions.done").write_text("ok")
        print(f"simulated {args.patients:,} patients in {t1 - t0:.1f} s, wrote {args.format} in "
              f"{time.perf_counter() - t1:.1f} s")
        del ds
    def run(flag: str) -> dict:
        res = subprocess.run([sys.executable, __file__, flag, str(folder), "--out-format", args.out_format],
                             capture_output=True, text=True, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])

    runs, anchors, trips = [], [], []
    for _ in range(max(1, args.repeat)):  # interleaved, so all see the same load on a shared machine
        runs.append(run("--child"))
        if not args.no_anchor:
            anchors.append(run("--anchor"))
            trips.append(run("--roundtrip"))
    r = min(runs, key=lambda x: x["seconds"] + x["write_seconds"])
    rows = sum(e["rows_read"] for e in r["exports"].values())
    s = r["exports"]["sessions"]
    frames = sum(e["frame_bytes"] for e in r["exports"].values())
    mb = 1024 ** 2
    print(f"scale: {args.patients:,} patients, {args.format}; sessions {s['rows_read']:,} rows "
          f"({s['file_bytes'] / mb:,.0f} MB on disk); all exports {rows:,} rows")
    total = r["seconds"] + r["write_seconds"]
    print(f"read + validate: {r['seconds']:.2f} s -> {rows / r['seconds']:,.0f} rows/s "
          f"(sessions rows/s over the whole run: {s['rows_read'] / r['seconds']:,.0f})")
    print(f"write outputs: {r['write_seconds']:.2f} s ({r['out_bytes'] / mb:,.0f} MB; accepted rows as "
          f"{args.out_format})")
    print(f"end to end with outputs: {total:.2f} s -> {rows / total:,.0f} rows/s "
          f"(best of {len(runs)}: " + ", ".join(f"{x['seconds'] + x['write_seconds']:.2f}" for x in runs) + " s)")
    if anchors:
        a = min(anchors, key=lambda x: x["seconds"])
        reader = "pandas.read_parquet" if args.format == "parquet" else "pandas.read_csv"
        print(f"anchor, bare {reader} of the same files: {a['seconds']:.2f} s (best of {len(anchors)}: "
              + ", ".join(f"{x['seconds']:.2f}" for x in anchors) + f" s; peak RSS {a['peak_rss'] / mb:,.0f} MB)"
              f" -> validate with outputs takes {total / a['seconds']:.2f}x the bare read")
    if trips:
        a = min(trips, key=lambda x: x["seconds"])
        print(f"anchor, bare Arrow round trip with no rules (pyarrow read, write as {args.out_format}, fsync): "
              f"{a['seconds']:.2f} s -> {rows / a['seconds']:,.0f} rows/s (best of {len(trips)}: "
              + ", ".join(f"{x['seconds']:.2f}" for x in trips) + f" s) -> validate with outputs takes "
              f"{total / a['seconds']:.2f}x the round trip")
    print("quarantined: " + ", ".join(f"{k} {e['quarantined']}" for k, e in r["exports"].items()))
    print(f"memory: accepted frames {frames / mb:,.0f} MB; peak RSS {r['peak_rss'] / mb:,.0f} MB, "
          f"{r['peak_load'] / mb:,.0f} MB before writing "
          f"(interpreter + libraries {r['baseline_rss'] / mb:,.0f} MB); "
          f"peak above baseline = {(r['peak_rss'] - r['baseline_rss']) / max(frames, 1):.2f} x the frames")
    print(f"memory per patient (peak above baseline / patients): "
          f"{(r['peak_rss'] - r['baseline_rss']) / args.patients / 1024:,.1f} KB")


if __name__ == "__main__":
    main()
