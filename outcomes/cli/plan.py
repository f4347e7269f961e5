"""``outcomes plan --write FILE``: write the default analysis plan (or one fitted to a dataset), a comment on
every field; ``--check FILE`` checks one."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError

# The plan package (and, with --data, the dataset readers) are imported in run(), so that
# `outcomes plan --help` stays fast.

HELP = "write the default analysis plan (TOML, every field commented) or check a plan file"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("plan", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE", help="write the default plan to FILE (refuses to overwrite)")
    group.add_argument("--check", metavar="FILE", help="read FILE and say whether it is a valid plan")
    p.add_argument("--data", metavar="DATA",
                   help="with --write: fit the starter to this dataset folder (its outcomes, visits and endpoint "
                        "in its time unit, its arms and a guessed reference, each marked CHECK)")
    p.add_argument("--dataset", metavar="FILE",
                   help="with --data: the dataset description (default DATA/dataset.toml when it exists)")
    p.add_argument("--force", action="store_true", help="with --write: overwrite an existing FILE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..plan import load_plan, write_default_plan

    data = getattr(args, "data", None)
    if (data or getattr(args, "dataset", None)) and not args.write:
        raise UsageError("--data and --dataset go with --write (a starter plan fitted to the data); "
                         "--check reads the plan alone.")
    if getattr(args, "dataset", None) and not data:
        raise UsageError("--dataset needs --data DATA (the folder the description reads).")
    if args.write and data:
        from ..io import load_dataset
        from ..plan.starter import write_starter_plan

        dataset = load_dataset(data, description=getattr(args, "dataset", None))
        path, reference = write_starter_plan(args.write, dataset, overwrite=args.force)
        print(f"Wrote an analysis plan fitted to {data} to {path}: check every line marked CHECK (reference arm "
              f"\"{reference}\" is a guess). Then run `outcomes compare {data} --out DIR --plan {path}`.")
        return 0
    if args.write:
        path = write_default_plan(args.write, overwrite=args.force)
        print(f"Wrote the default analysis plan to {path} (reference arm \"weekly\": set it to your control arm). "
              f"Edit it, then run `outcomes compare DATA --out DIR --plan {path}`.")
        return 0
    plan = load_plan(args.check)
    reference = f"reference arm {plan.reference}" if plan.reference else "no reference arm (the first in sorted order)"
    sensitivity = (f"{plan.sensitivity.imputations} imputations" if plan.sensitivity.imputations
                   else "no multiple imputation")
    endpoint = (f"endpoint week {plan.endpoint_week:g}" if plan.endpoint is None else
                f"endpoint {plan.endpoint:g} (in the dataset's time unit)")
    print(f"{args.check} is a valid plan (sha256 {plan.sha256()[:12]}): primary outcome {plan.outcome}, "
          f"{endpoint}, visits {', '.join(f'{v:g}' for v in plan.visits)}; "
          f"primary analysis {plan.primary}, {reference}, multiplicity {plan.multiplicity}, {sensitivity}.")
    return 0
