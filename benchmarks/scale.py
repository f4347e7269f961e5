"""Benchmark: validate and audit at scale (Parquet), each in a fresh process; prints seconds and peak memory.

Usage::

    python benchmarks/scale.py                          # 200,000 patients
    python benchmarks/scale.py --patients 200000 1000000
    python benchmarks/scale.py --patients 20000 --commands validate
    python benchmarks/scale.py --commands validate --out-format parquet   # accepted rows as Parquet

For each scale a simulated cohort is written once as Parquet into a cache folder (the same
cache as ``benchmarks/validate.py``), then ``outcomes validate DATA --out DIR`` and
``outcomes audit DATA --out DIR`` run in child processes; each child reports its own peak
resident memory (VmHWM) and the seconds the command took, with the load average of the
machine before it. Targets (issue 14): 200,000 patients validate and audit under 4 GB peak;
1,000,000 patients validate and audit on this machine (24 GB). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, sys, time, io, contextlib
t = time.perf_counter()
from outcomes.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(sys.argv[1:])
seconds = time.perf_counter() - t
hwm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))
print(json.dumps({"rc": rc, "seconds": seconds, "peak_rss": hwm}))
"""


def _dataset(patients: int, seed: int, cache: str, piece: int) -> Path:
    """The cached Parquet dataset; above ``piece`` patients it is simulated in pieces (distinct
    seeds and codes per piece) appended as row groups, so no simulation holds the whole cohort
    (a million patients simulated at once needed more than 15 GB)."""
    folder = Path(cache) / f"outcomes-bench-{patients}-{seed}-parquet"
    if (folder / "sessions.done").exists():
        return folder
    from outcomes.simulate import simulate, write_dataset

    t0 = time.perf_counter()
    if patients <= piece:
        write_dataset(simulate(patients, seed=seed), folder, format="parquet")
    else:
        import pyarrow.parquet as pq

        from outcomes.simulate.write import _to_arrow

        folder.mkdir(parents=True, exist_ok=True)
        writers: dict[str, pq.ParquetWriter] = {}
        schemas: dict[str, object] = {}
        try:
            for i, start in enumerate(range(0, patients, piece)):
                sim = simulate(min(piece, patients - start), seed=seed + i)
                for name, frame in sim.frames().items():
                    frame = frame.assign(patient_id=f"Q{i:03d}" + frame["patient_id"])
                    if "session_id" in frame.columns:
                        frame = frame.assign(session_id=f"Q{i:03d}" + frame["session_id"])
                    table = _to_arrow(frame)
                    if name not in writers:
                        schemas[name] = table.schema
                        writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
                    writers[name].write_table(table.cast(schemas[name]))
                del sim
                print(f"  piece {i + 1}: {start + piece:,} patients written", flush=True)
        finally:
            for w in writers.values():
                w.close()
    (folder / "sessions.done").write_text("ok")
    print(f"simulated and wrote {patients:,} patients in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def _rows(folder: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[200_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default=tempfile.gettempdir())
    ap.add_argument("--piece", type=int, default=200_000, help="simulate in pieces of this many patients")
    ap.add_argument("--commands", nargs="+", default=["validate", "audit"], choices=("validate", "audit"))
    ap.add_argument("--out-format", choices=("csv", "parquet"), default="csv",
                    help="validate's accepted rows (outcomes validate --out-format)")
    args = ap.parse_args()
    gb = 1024 ** 3
    for n in args.patients:
        folder = _dataset(n, args.seed, args.cache, args.piece)
        rows = _rows(folder)
        print(f"scale: {n:,} patients (Parquet): " + ", ".join(f"{k} {v:,}" for k, v in rows.items())
              + f"; {sum(rows.values()):,} rows", flush=True)
        for command in args.commands:
            out = Path(tempfile.mkdtemp(prefix=f"outcomes-scale-{command}-"))
            shutil.rmtree(out)
            load = os.getloadavg()[0]
            extra = ["--out-format", args.out_format] if command == "validate" else []
            res = subprocess.run([sys.executable, "-c", _CHILD, command, str(folder), "--out", str(out), *extra],
                                 capture_output=True, text=True)
            shutil.rmtree(out, ignore_errors=True)
            if res.returncode not in (0, 1):
                print(f"  {command}: failed (exit {res.returncode}): {res.stderr.strip()[-400:]}", flush=True)
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  {command}{' (' + args.out_format + ' out)' if extra else ''}: {r['seconds']:.1f} s, "
                  f"exit {r['rc']}, peak RSS {r['peak_rss'] / gb:.2f} GB "
                  f"({r['peak_rss'] / n / 1024:.1f} KB a patient; load average before: {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
