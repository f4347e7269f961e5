"""``outcomes audit DATA --out DIR``: the clinic audit report and KPI tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..reports.audit import write_audit_report
from ._common import add_data_options, add_force_option, load_cohort, outputs, positive_int

HELP = "clinic audit: data quality, KPIs against targets, funnel plots, case-mix adjusted outcomes"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("audit", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="dataset folder (see `outcomes validate --help`)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="write audit.html, audit.pdf and kpis.csv/.xlsx/.json here")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: print one JSON document (KPIs, funnel and O/E tables) on stdout")
    p.add_argument("--min-cell", type=positive_int, default=11, metavar="K",
                   help="suppress counts and rates of groups smaller than K (default 11)")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    dataset, cohort = load_cohort(args, quiet=args.format == "json")
    with outputs(args, "audit") as oset:
        staged = write_audit_report(cohort, oset.staging, dataset=dataset, k=args.min_cell)
        # kpis.json is the audit document (with the outputs listed): print it rather than compute it twice
        document = Path(staged["kpis.json"]).read_text(encoding="utf-8")
    written = oset.finals(staged)
    if args.format == "json":
        sys.stdout.write(document)
    else:
        print(f"Audit of {len(cohort.patients)} patients as of {cohort.as_of.date()}.")
        print("Open first: " + written.get("audit.html", ""))
        print("Also written: " + ", ".join(sorted(k for k in written if k != "audit.html")))
    return dataset.exit_code
