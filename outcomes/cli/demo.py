"""``outcomes demo``: the main jobs on the bundled example data, into one folder.

Runs validate, audit, compare and patients on the example dataset installed with the
package (the repository's ``data/example``) and writes
``reports/demo/{validation,audit,compare,patients}``, then says what to open first.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from .._resources import example_dir
from ..io.errors import UsageError
from ._common import add_force_option, outputs

HELP = "run validate, audit, compare and patients on the bundled example data"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("demo", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", default="reports/demo",
                   help="where to write the outputs (default reports/demo)")
    p.add_argument("--data", metavar="DATA", default=None, help=argparse.SUPPRESS)
    add_force_option(p)
    p.set_defaults(run=run, progress=False)  # it says each step itself


def _step(label: str, t0: float) -> None:
    print(f"  {label:<34} done in {time.perf_counter() - t0:.1f} s", flush=True)


def run(args: argparse.Namespace) -> int:
    # the analyses are imported here, so that `outcomes --help` and `validate` stay quick
    from ..cohort import Cohort
    from ..io import load_dataset, validation_text, write_validation
    from ..models.compare import compare_schedules
    from ..reports.audit import write_audit_report
    from ..reports.compare import write_compare_report, write_comparison
    from ..reports.patient import write_patient_reports

    data = Path(args.data) if args.data is not None else example_dir()
    if not data.is_dir():
        raise UsageError(f"The example data folder {data} is missing; reinstall outcomes "
                         f"(pip install --force-reinstall outcomes).")
    print(f"Demo on {data} → {args.out}")
    args.data = str(data)  # the output folder must not lie inside it
    with outputs(args, "demo") as oset:
        out = oset.staging
        t0 = time.perf_counter()
        dataset = load_dataset(data)
        written = write_validation(dataset, out / "validation")
        _step("validate", t0)
        cohort = Cohort.from_dataset(dataset)

        t0 = time.perf_counter()
        audit = write_audit_report(cohort, out / "audit", dataset=dataset)
        _step("audit report", t0)

        t0 = time.perf_counter()
        schedules = set(cohort.patients["schedule"])
        # the example's time-based schedule is the natural reference for the symptom-guided one
        comparison = compare_schedules(cohort, reference="weekly" if "weekly" in schedules else None)
        write_comparison(comparison, out / "compare")
        compare = write_compare_report(comparison, cohort, out / "compare")
        _step("schedule comparison", t0)

        t0 = time.perf_counter()
        patients = write_patient_reports(cohort, out / "patients", jobs=min(2, os.cpu_count() or 1))
        _step(f"{patients['n']} patient reports", t0)

        print()
        print(validation_text(dataset, max_errors=5))
        print()
        print(cohort.summary())
    print("\nOpen first:")
    for label, path in (("clinic audit", audit["audit.html"]), ("schedule comparison", compare["compare.html"]),
                        ("patients (flagged first)", patients["index"]),
                        ("validation report", written["validation.html"])):
        print(f"  {label:<26}{Path(oset.final(path)).resolve()}")
    return dataset.exit_code
