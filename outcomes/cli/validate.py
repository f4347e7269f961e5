"""``outcomes validate DATA``: read and check every export, write what was accepted and why not."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import add_data_options, add_force_option, dataset_from_args, non_negative_int, outputs

HELP = "read and validate every export; write accepted and quarantined rows and a report"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="folder holding patients, assessments, and optionally "
                   "prescriptions and sessions (.csv, .xlsx or .parquet)")
    p.add_argument("--out", metavar="DIR", help="write <export>.csv, <export>.quarantine.csv, "
                   "validation.json and validation.html here")
    p.add_argument("--out-format", choices=("csv", "parquet"), default="csv",
                   help="the accepted rows' files: csv (default; ISO dates, for people and spreadsheets) or "
                        "parquet (typed columns; a tenth of the size, faster for large data). Quarantined "
                        "rows are always CSV")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: print one JSON document on stdout (default: a readable summary)")
    p.add_argument("--max-errors", type=non_negative_int, default=None, metavar="N",
                   help="failures listed on stdout (default: 20 in text, 1000 per export in JSON; "
                        "0 = all; the quarantine files always hold all)")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..io import validation_document, validation_text, write_validation

    dataset = dataset_from_args(args)
    written: dict[str, str] = {}
    if args.out is not None:
        with outputs(args, "validate") as oset:
            written = oset.finals(write_validation(dataset, oset.staging, out_format=args.out_format))
    if args.format == "json":
        shown = 1000 if args.max_errors is None else args.max_errors or None
        doc = validation_document(dataset, max_errors=shown, outputs=written)
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        print(validation_text(dataset, max_errors=20 if args.max_errors is None else args.max_errors or None))
        if written:
            print(f"\nOutputs in {args.out}: " + ", ".join(sorted(p.rsplit('/', 1)[-1] for p in written.values())))
    return dataset.exit_code
