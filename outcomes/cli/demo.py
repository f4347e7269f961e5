"""``outcomes demo``: the main job on the bundled example data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cohort import Cohort
from ..io import load_dataset, validation_text, write_validation
from ..io.errors import UsageError

HELP = "run everything on the bundled example data (data/example)"
EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("demo", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", default="reports/demo",
                   help="where to write the outputs (default reports/demo)")
    p.add_argument("--data", metavar="DATA", default=str(EXAMPLE), help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not data.is_dir():
        raise UsageError(f"The example data folder {data} is missing; run from a full checkout.")
    dataset = load_dataset(data)
    out = Path(args.out)
    written = write_validation(dataset, out / "validation")
    print(validation_text(dataset))
    cohort = Cohort.from_dataset(dataset)
    print("\n" + cohort.summary())
    print("\nOutputs:")
    print(f"  {'validation report':<24}{Path(written['validation.html']).resolve()}")
    for name in dataset.exports:
        if name in written:
            print(f"  {'accepted ' + name:<24}{Path(written[name]).resolve()}")
    return dataset.exit_code
