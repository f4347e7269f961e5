"""``outcomes simulate``: write a synthetic dataset with known true effects."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..io.errors import UsageError
from ..io.writers import prepare_out_dir
from ._common import positive_int

HELP = "write a synthetic dataset in the contract format, with its true effects in truth.json"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("simulate", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=positive_int, default=200, metavar="N", help="number of patients (default 200)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder to write the exports into")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..simulate import simulate, write_dataset

    if args.seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {args.seed}.")
    out = prepare_out_dir(args.out)
    t0 = time.perf_counter()
    dataset = simulate(args.patients, seed=args.seed)
    paths = write_dataset(dataset, out, format=args.format)
    dt = time.perf_counter() - t0
    counts = ", ".join(f"{len(f):,} {name}" for name, f in dataset.frames().items())
    print(f"Simulated {counts} in {dt:.1f} s (seed {args.seed}).")
    for name, path in paths.items():
        print(f"  {name:<14}{path}")
    return 0
