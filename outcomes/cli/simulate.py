"""``outcomes simulate``: write a synthetic dataset with known true effects."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..io.errors import UsageError
from ._common import add_force_option, outputs, positive_int

#: About 1 KB of memory per simulated session row; 2 million patients need ~15 GB.
_MAX_PATIENTS = 2_000_000

HELP = "write a synthetic dataset in the contract format, with its true effects in truth.json"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("simulate", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=positive_int, default=200, metavar="N", help="number of patients (default 200)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder to write the exports into")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    add_force_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..simulate import simulate, write_dataset

    if args.seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {args.seed}.")
    if args.patients > _MAX_PATIENTS:
        raise UsageError(f"--patients {args.patients:,} is more than this machine can simulate in memory "
                         f"(at most {_MAX_PATIENTS:,}); simulate several smaller cohorts with different seeds.")
    t0 = time.perf_counter()
    with outputs(args, "simulate") as oset:
        dataset = simulate(args.patients, seed=args.seed)
        paths = oset.finals(write_dataset(dataset, oset.staging, format=args.format))
    dt = time.perf_counter() - t0
    counts = ", ".join(f"{len(f):,} {name}" for name, f in dataset.frames().items())
    print(f"Simulated {counts} in {dt:.1f} s (seed {args.seed}).")
    for name, path in paths.items():
        print(f"  {name:<14}{path}")
    return 0
