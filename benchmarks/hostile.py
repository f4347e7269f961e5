"""Run the hostile-input matrix of issue 16 outside pytest and print each case's time and verdict.

Usage::

    python benchmarks/hostile.py                 # every case
    python benchmarks/hostile.py --fast          # skip the cases marked slow
    python benchmarks/hostile.py nul-byte utf16-file

Prints one line per case (seconds of the command itself, exit code, PASS/FAIL) and, for a
failing case, what broke and the first lines of stderr; then the totals and the slowest cases.
The datasets are built in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile.cases import CASES, run_and_check  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="only these cases (default: all)")
    p.add_argument("--fast", action="store_true", help="skip the cases marked slow")
    args = p.parse_args(argv)
    chosen = [c for c in CASES if (not args.names or c.name in args.names) and not (args.fast and c.slow)]
    root = Path(tempfile.mkdtemp(prefix="outcomes-hostile-"))
    rows = []
    t_all = time.perf_counter()
    try:
        for i, case in enumerate(chosen):
            if case.skip is not None and (why := case.skip()):
                print(f"{case.name:<44} skipped: {why}")
                continue
            t0 = time.perf_counter()
            env, res, problems = run_and_check(case, root / f"{i:03d}")
            total = time.perf_counter() - t0
            verdict = "PASS" if not problems else "FAIL"
            rows.append((case.name, res.seconds, total, res.code, verdict))
            print(f"{case.name:<44} {res.seconds:7.2f} s (with build and checks {total:6.2f} s)  "
                  f"exit {res.code!s:>4}  {verdict}", flush=True)
            if problems:
                print(f"    $ outcomes {' '.join(res.argv)}")
                for prob in problems:
                    print("    - " + prob.replace("\n", "\n      ")[:800])
                if res.stderr.strip() and not res.crash:
                    print("    stderr: " + res.head(3).replace("\n", "\n            "))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failed = [r for r in rows if r[4] == "FAIL"]
    print(f"\n{len(rows)} cases in {time.perf_counter() - t_all:.1f} s: {len(rows) - len(failed)} pass, "
          f"{len(failed)} fail; commands alone {sum(r[1] for r in rows):.1f} s, longest "
          f"{max((r[1] for r in rows), default=0):.1f} s.")
    for name, sec, _, _, _ in sorted(rows, key=lambda r: -r[1])[:8]:
        print(f"  {sec:7.2f} s  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
