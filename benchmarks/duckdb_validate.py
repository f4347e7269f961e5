"""Anchor: the loader's session rules as DuckDB SQL, out of core (see docs/scaling.md).

Needs duckdb, which is not a dependency of the project (``pip install duckdb`` in a separate
environment). Usage::

    python benchmarks/duckdb_validate.py /tmp/outcomes-bench-200000-1-parquet 2GB

The folder is one written by ``benchmarks/scale.py`` (Parquet) or ``benchmarks/validate.py`` (CSV or
Parquet; each query reads the files again, as DuckDB does without a table). Prints the seconds of the per-row
rules, the key rule, the link rules and writing the rows as CSV, and the peak memory under the
given memory limit; then a bare round trip of every export (read, written as CSV, no rules). Not part of ``make test``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    try:
        import duckdb
    except ImportError:
        sys.exit("duckdb is not installed: pip install duckdb (in a separate environment)")
    folder = Path(sys.argv[1])
    limit = sys.argv[2] if len(sys.argv) > 2 else "2GB"
    tmp = Path(tempfile.mkdtemp(prefix="outcomes-duckdb-"))
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{limit}'; SET threads=2; SET temp_directory='{tmp / 'spill'}'")
    fmt = "parquet" if (folder / "sessions.parquet").exists() else "csv"
    s = f"read_{fmt}('{folder / f'sessions.{fmt}'}')"
    p = f"read_{fmt}('{folder / f'patients.{fmt}'}')"
    t0 = time.perf_counter()
    rows = con.execute(f"""
        SELECT count(*),
               count(*) FILTER (WHERE level NOT BETWEEN 1 AND 20 OR pain_before NOT BETWEEN 0 AND 10
                                OR pain_after NOT BETWEEN 0 AND 10 OR sets_done NOT BETWEEN 0 AND 50
                                OR reps_done NOT BETWEEN 0 AND 1000),
               count(*) FILTER (WHERE glide_type NOT IN ('slider', 'tensioner')
                                OR response NOT IN ('better', 'same', 'worse')
                                OR position NOT IN ('seated', 'supine', 'standing', 'leg_raised')),
               count(*) FILTER (WHERE NOT regexp_full_match(session_id, '[A-Za-z0-9_-]{{1,64}}'))
        FROM {s}""").fetchall()[0]
    t1 = time.perf_counter()
    dups = con.execute(f"SELECT count(*) FROM (SELECT session_id FROM {s} GROUP BY session_id "
                       "HAVING count(*) > 1)").fetchall()[0][0]
    t2 = time.perf_counter()
    links = con.execute(f"""
        SELECT count(*) FILTER (WHERE p.patient_id IS NULL),
               count(*) FILTER (WHERE p.patient_id IS NOT NULL AND (CAST(s.performed_at AS DATE) < p.enrolled_on
                                OR CAST(s.performed_at AS DATE) > p.discharged_on + 14))
        FROM {s} s LEFT JOIN {p} p USING (patient_id)""").fetchall()[0]
    t3 = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM {s}) TO '{tmp / 'sessions.csv'}' (HEADER)")
    t4 = time.perf_counter()
    (tmp / "sessions.csv").unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows[0]:,} session rows: per-row rules {t1 - t0:.1f} s, duplicate keys {t2 - t1:.1f} s, links "
          f"{t3 - t2:.1f} s, rows written as CSV {t4 - t3:.1f} s; total {t4 - t0:.1f} s; peak RSS {peak:,.0f} MB "
          f"(memory_limit {limit}); failing rows {rows[1:]}, duplicate codes {dups}, unknown/out of window {links}")
    # the floor: every export read and written back as CSV, no rules at all
    t5 = time.perf_counter()
    n = 0
    for path in sorted(folder.glob(f"*.{fmt}")):
        n += con.execute(f"COPY (SELECT * FROM read_{fmt}('{path}')) TO '{tmp / (path.stem + '.csv')}' "
                         "(HEADER)").fetchone()[0]  # COPY returns the rows it wrote
        (tmp / (path.stem + ".csv")).unlink()
    t6 = time.perf_counter()
    print(f"bare round trip, no rules: {n:,} rows of every export read and written as CSV in {t6 - t5:.2f} s "
          f"({n / (t6 - t5):,.0f} rows/s)")


if __name__ == "__main__":
    main()
