"""``outcomes patients DATA --out DIR``: one-page outcome reports per patient, flagged patients first."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..io.errors import UsageError
from ._common import add_data_options, add_force_option, load_cohort, outputs, positive_int

HELP = ("one-page PDF (and HTML) outcome report per patient, with an index (HTML and CSV) listing patients who "
        "need STOP AND CONSULT first, then those behind their expected recovery")


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("patients", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="dataset folder (see `outcomes validate --help`)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="write patient-<code>.pdf/.html, index.html and index.csv here")
    p.add_argument("--patient", metavar="ID", nargs="+", action="extend", dest="patients",
                   help="only these patient codes (default: every patient); a code that starts with "
                        "'-' is given as --patient=-CODE")
    p.add_argument("--jobs", type=positive_int, default=min(2, os.cpu_count() or 1), metavar="N",
                   help="processes drawing reports in parallel (default: 2, or 1 on a single core); fewer "
                        "than 100 patients are drawn in one process, which is faster than starting workers")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..reports.patient import write_patient_reports

    dataset, cohort = load_cohort(args)
    try:
        with outputs(args, "patients") as oset:
            result = write_patient_reports(cohort, oset.staging, patient_ids=args.patients, jobs=args.jobs)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    result["index"] = oset.final(result["index"])
    print(f"Wrote {result['n']} patient report(s) in {result['seconds']:.1f} s with {result['jobs']} job(s).")
    print(f"Open first: {result['index']} (STOP AND CONSULT first, then patients behind their expected range; "
          f"the same list as a table: {oset.final(result['index_csv'])}).")
    return dataset.exit_code
