"""``outcomes validate DATA``: read and check every export, write what was accepted and why not."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..io import load_dataset, validation_document, validation_text, write_validation

HELP = "read and validate every export; write accepted and quarantined rows and a report"


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Options every command that reads a dataset shares."""
    p.add_argument("--columns", metavar="MAP.json",
                   help="JSON file mapping your column names (and coded values) to the canonical ones")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="date_order", action="store_const", const="dayfirst",
                       help="read dates like 03/04/2026 as day/month/year")
    order.add_argument("--monthfirst", dest="date_order", action="store_const", const="monthfirst",
                       help="read dates like 03/04/2026 as month/day/year")
    p.add_argument("--grace-days", type=_non_negative_int, default=14, metavar="N",
                   help="days after discharged_on still accepted for sessions and assessments (default 14)")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="folder holding patients, assessments, and optionally "
                   "prescriptions and sessions (.csv, .xlsx or .parquet)")
    p.add_argument("--out", metavar="DIR", help="write <export>.csv, <export>.quarantine.csv, "
                   "validation.json and validation.html here")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: print one JSON document on stdout (default: a readable summary)")
    p.add_argument("--max-errors", type=int, default=1000, metavar="N",
                   help="failures listed per export on stdout (0 = all; files always hold all)")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.data, columns=args.columns, date_order=args.date_order,
                           grace_days=args.grace_days)
    written = write_validation(dataset, args.out) if args.out else {}
    if args.format == "json":
        doc = validation_document(dataset, max_errors=args.max_errors or None, outputs=written)
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        print(validation_text(dataset))
        if written:
            print(f"\nOutputs in {args.out}: " + ", ".join(sorted(p.rsplit('/', 1)[-1] for p in written.values())))
    return dataset.exit_code
