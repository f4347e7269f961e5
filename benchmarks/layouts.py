"""Benchmark: the same trial read as the four exports and as one wide file through a dataset.toml.

Usage::

    python benchmarks/layouts.py                    # 200,000 patients, 4 visits, 3 outcomes
    python benchmarks/layouts.py --patients 20000

Both layouts hold the same values: patients (id, arm, age, sex) and, at weeks 0, 4, 8
and 12, leg pain, back pain and ODI (some missing). The exports layout has a patients
file and an assessments file (one row per patient and visit, dated); the wide layout one
file with a row per patient and a column per outcome and week, read through a description
(unit "week"). Each is read and validated by ``outcomes.load_dataset`` in a fresh child
process (best of ``--repeat``); the rate is assessment records accepted per second, the
same count for both. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

WEEKS = (0, 4, 8, 12)
OUTCOMES = {"leg_pain": (0, 10), "back_pain": (0, 10), "odi": (0, 100)}


def _make(folder: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(n)])
    arm = rng.choice(["guided", "weekly", "usual"], n)
    age = rng.integers(18, 90, n)
    sex = rng.choice(["female", "male"], n)
    enrolled = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    values = {o: np.clip(rng.normal(hi * 0.5, hi * 0.2, (n, len(WEEKS))).round(), lo, hi)
              for o, (lo, hi) in OUTCOMES.items()}
    gone = rng.random((n, len(WEEKS))) < 0.1
    gone[:, 0] = False
    exports = folder / "exports"
    wide = folder / "wide"
    exports.mkdir(parents=True, exist_ok=True)
    wide.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"patient_id": ids, "enrolled_on": enrolled.strftime("%Y-%m-%d"), "schedule": arm,
                  "age_years": age, "sex": sex}).to_csv(exports / "patients.csv", index=False)
    rows = []
    for j, w in enumerate(WEEKS):
        keep = ~gone[:, j]
        part = {"patient_id": ids[keep],
                "assessed_on": (enrolled[keep] + pd.Timedelta(weeks=w)).strftime("%Y-%m-%d")}
        part.update({o: values[o][keep, j].astype(int) for o in OUTCOMES})
        rows.append(pd.DataFrame(part))
    pd.concat(rows).to_csv(exports / "assessments.csv", index=False)
    table = {"subject": ids, "arm": arm, "age": age, "sex": sex}
    for o in OUTCOMES:
        for j, w in enumerate(WEEKS):
            table[f"{o}.w{w}"] = pd.array(np.where(gone[:, j], np.nan, values[o][:, j])).astype("Int64")
    pd.DataFrame(table).to_csv(wide / "trial.csv", index=False)
    outcomes = "\n".join(
        f"[outcomes.{o}]\ncolumns = {{ " + ", ".join(f'"{o}.w{w}" = {w}' for w in WEEKS) + " }\n" for o in OUTCOMES)
    (wide / "dataset.toml").write_text(
        '[source]\nlayout = "wide"\nfile = "trial.csv"\n\n[columns]\npatient_id = "subject"\nschedule = "arm"\n'
        'age_years = "age"\n\n[time]\nunit = "week"\n\n' + outcomes, encoding="utf-8")


def _child(folder: str) -> None:
    import outcomes

    t0 = time.perf_counter()
    ds = outcomes.load_dataset(folder)
    seconds = time.perf_counter() - t0
    out = {name: {"rows_read": r.rows_read, "accepted": r.accepted, "quarantined": r.quarantined}
           for name, r in ds.exports.items() if r.path is not None}
    print(json.dumps({"seconds": seconds, "exports": out}))


def _run(folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cache", default=tempfile.gettempdir())
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    folder = Path(args.cache) / f"outcomes-layouts-{args.patients}-{args.seed}"
    if not (folder / "wide" / "trial.csv").exists():
        _make(folder, args.patients, args.seed)
    results = {}
    for layout in ("exports", "wide"):
        runs = [_run(folder / layout) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        records = best["exports"]["assessments"]["accepted"]
        results[layout] = {"seconds": round(best["seconds"], 2), "assessments": records,
                           "patients": best["exports"]["patients"]["accepted"],
                           "records_per_s": round(records / best["seconds"]),
                           "file_bytes": sum(p.stat().st_size for p in (folder / layout).glob("*.csv"))}
    ratio = results["wide"]["records_per_s"] / results["exports"]["records_per_s"]
    print(json.dumps({"patients": args.patients, "weeks": WEEKS, "outcomes": list(OUTCOMES), **results,
                      "wide_vs_exports": round(ratio, 2)}, indent=2))


if __name__ == "__main__":
    main()
