"""``outcomes describe DATA --write FILE``: a commented dataset.toml guessed from the data; ``--check FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


HELP = "write a dataset description (dataset.toml) guessed from the data, or check one"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("describe", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="a data file (.csv, .xlsx, .parquet) or the folder holding it "
                   "(or the four exports, a REDCap records export with its data dictionary, or ADaM ADSL + a BDS "
                   "dataset)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE", help="write a commented starter description to FILE "
                       "(refuses to overwrite; usually DATA/dataset.toml)")
    group.add_argument("--check", metavar="FILE", help="read FILE and the data, and say whether FILE describes them")
    p.add_argument("--force", action="store_true", help="with --write: overwrite an existing FILE")
    p.set_defaults(run=run)


def _folder(data: Path) -> Path:
    return data.parent if data.is_file() else data


def run(args: argparse.Namespace) -> int:
    from ..files import atomic_write_text, check_toml_target
    from ..io import load_dataset, load_description
    from ..io.starter import data_file, starter_description

    data = Path(args.data)
    if args.write:
        target = check_toml_target(args.write, overwrite=args.force, what="description")
        text = starter_description(data)
        atomic_write_text(target, text)
        path = data_file(data)
        where = "" if path is None or target.parent.resolve() == path.parent.resolve() else (
            f" Note: [source] file is relative to the description; move {target.name} beside {path.name} "
            "or edit file = \"...\".")
        print(f"Wrote a starter description to {target}: check the lines marked CHECK, then run "
              f"`outcomes describe {args.data} --check {target}`.{where}")
        return 0
    description = load_description(args.check)
    dataset = load_dataset(_folder(data), description=description)
    counts = ", ".join(f"{n} {r.accepted:,} accepted" + (f" ({r.quarantined:,} quarantined)" if r.quarantined else "")
                       for n, r in dataset.exports.items() if r.path is not None)
    names = ", ".join(f"{o.name} ({dataset.outcomes.label(o.name)})" for o in description.outcomes) or "built-ins only"
    timing = "dated" if description.time.dated else f"time in {description.time.unit}s"
    print(f"{args.check} describes the data: layout {description.layout}, {timing}, "
          f"outcomes {names}; {counts}."
          + ("" if dataset.ok else f" Run `outcomes validate {_folder(data)} --dataset {args.check}` for the "
                                   "quarantined rows."))
    return 0
