"""``outcomes plan --write FILE``: write the default analysis plan, a comment on every field."""

from __future__ import annotations

import argparse
from typing import Any

from ..plan import load_plan, write_default_plan

HELP = "write the default analysis plan (TOML, every field commented) or check a plan file"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("plan", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE", help="write the default plan to FILE (refuses to overwrite)")
    group.add_argument("--check", metavar="FILE", help="read FILE and say whether it is a valid plan")
    p.add_argument("--force", action="store_true", help="with --write: overwrite an existing FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.write:
        path = write_default_plan(args.write, overwrite=args.force)
        print(f"Wrote the default analysis plan to {path} (reference arm \"weekly\": set it to your control arm). "
              f"Edit it, then run `outcomes compare DATA --out DIR --plan {path}`.")
        return 0
    plan = load_plan(args.check)
    reference = f"reference arm {plan.reference}" if plan.reference else "no reference arm (the first in sorted order)"
    sensitivity = (f"{plan.sensitivity.imputations} imputations" if plan.sensitivity.imputations
                   else "no multiple imputation")
    print(f"{args.check} is a valid plan (sha256 {plan.sha256()[:12]}): primary outcome {plan.outcome}, "
          f"endpoint week {plan.endpoint_week:g}, visits {', '.join(f'{v:g}' for v in plan.visits)}; "
          f"primary analysis {plan.primary}, {reference}, multiplicity {plan.multiplicity}, {sensitivity}.")
    return 0
