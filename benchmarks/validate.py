"""Benchmark: read + validate a simulated dataset; prints rows/s, seconds and peak memory.

Usage::

    python benchmarks/validate.py                      # 20,000 patients, CSV
    python benchmarks/validate.py --patients 200000 --format parquet

The dataset is simulated once per (patients, seed, format) into a cache folder
(default: the system temp folder) and validated in a fresh child process, so the
peak resident memory reported is that of read + validate alone (with the
interpreter and libraries, measured separately as the baseline).
Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss() -> int:
    """Peak resident memory of this process (VmHWM; ru_maxrss is inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(folder: str) -> None:
    import pandas  # noqa: F401  (baseline includes the libraries)

    import outcomes

    base = _peak_rss()
    t0 = time.perf_counter()
    ds = outcomes.load_dataset(folder)
    seconds = time.perf_counter() - t0
    peak = _peak_rss()
    out = {"seconds": seconds, "peak_rss": peak, "baseline_rss": base, "exports": {}}
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
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--cache", default=tempfile.gettempdir())
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
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
    res = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True,
                         check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    rows = sum(e["rows_read"] for e in r["exports"].values())
    s = r["exports"]["sessions"]
    frames = sum(e["frame_bytes"] for e in r["exports"].values())
    mb = 1024 ** 2
    print(f"scale: {args.patients:,} patients, {args.format}; sessions {s['rows_read']:,} rows "
          f"({s['file_bytes'] / mb:,.0f} MB on disk); all exports {rows:,} rows")
    print(f"read + validate: {r['seconds']:.2f} s -> {rows / r['seconds']:,.0f} rows/s "
          f"(sessions rows/s over the whole run: {s['rows_read'] / r['seconds']:,.0f})")
    print("quarantined: " + ", ".join(f"{k} {e['quarantined']}" for k, e in r["exports"].items()))
    print(f"memory: accepted frames {frames / mb:,.0f} MB; peak RSS {r['peak_rss'] / mb:,.0f} MB "
          f"(interpreter + libraries {r['baseline_rss'] / mb:,.0f} MB); "
          f"peak above baseline = {(r['peak_rss'] - r['baseline_rss']) / max(frames, 1):.2f} x the frames")
    print(f"memory per patient (peak above baseline / patients): "
          f"{(r['peak_rss'] - r['baseline_rss']) / args.patients / 1024:,.1f} KB")


if __name__ == "__main__":
    main()
