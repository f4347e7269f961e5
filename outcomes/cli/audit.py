"""``outcomes audit DATA --out DIR``: the clinic audit report and KPI tables."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..io.errors import UsageError
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
                   help="suppress counts and rates of groups smaller than K (default 11, the CMS rule)")
    p.add_argument("--outcome", metavar="NAME",
                   help="outcome of the responder and completion KPIs (default leg_pain, else the dataset's "
                        "first outcome)")
    p.add_argument("--funnel-limits", metavar="INNER,OUTER", default="95,99.8", type=_levels,
                   help="funnel-plot control limits in percent (default 95,99.8; Spiegelhalter 2005)")
    p.add_argument("--overdispersion", action="store_true",
                   help="widen the funnel limits for overdispersion between units (Spiegelhalter 2005: "
                        "winsorised z-scores, additive random effect)")
    p.add_argument("--spc-period", choices=("auto", "month", "quarter"), default="auto",
                   help="enrolment period of the KPIs-over-time charts (default auto: months when there are "
                        "enough patients a month, else quarters)")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def _levels(text: str) -> tuple[float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 2 or not all(50 <= x < 100 for x in parts) or parts[0] >= parts[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: give two percentages between 50 and 100, inner first, "
                                         "e.g. 95,99.8")
    return parts[0] / 100, parts[1] / 100


def run(args: argparse.Namespace) -> int:
    from ..reports.audit import write_audit_report

    dataset, cohort = load_cohort(args, quiet=args.format == "json")
    have = [o for o in cohort.options.instruments if f"{o}_responder" in cohort.patient_summary.columns]
    if args.outcome is not None and args.outcome not in have:
        raise UsageError(f"--outcome {args.outcome}: not an outcome with change scores in this dataset; "
                         f"choose from {', '.join(have) or 'none'}.")
    if not have:
        raise UsageError("no outcome has both a baseline and a later score, so there is nothing to audit; "
                         "check the dataset's outcomes and time axis (`outcomes describe DATA --check FILE`).")
    with outputs(args, "audit") as oset:
        staged = write_audit_report(cohort, oset.staging, dataset=dataset, k=args.min_cell, outcome=args.outcome,
                                    levels=args.funnel_limits, overdispersion=args.overdispersion,
                                    spc_period=args.spc_period)
        # kpis.json is the audit document: print it rather than compute it twice
        document = json.loads(Path(staged["kpis.json"]).read_text(encoding="utf-8"))
    written = oset.finals(staged)
    if args.format == "json":
        document["outputs"] = written  # where they are now (the file lists them by name, beside it)
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        for line in document.get("headline", []):
            print(line)
        print("Open first: " + written.get("audit.html", ""))
        print("Also written: " + ", ".join(sorted(k for k in written if k != "audit.html")))
    return dataset.exit_code
