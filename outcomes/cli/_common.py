"""Pieces every subcommand shares: the dataset options and loading a cohort with a clear verdict."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Iterator

from ..config import EARLIEST_DATE
from ..errors import NothingToAnalyse

if TYPE_CHECKING:  # the readers, the cohort and the output machinery need pandas: loaded when a command runs
    from ..cohort import Cohort
    from ..config import Options
    from ..files import OutputSet
    from ..io import Dataset

__all__ = ["add_data_options", "add_force_option", "dataset_from_args", "load_cohort", "non_negative_int", "outputs",
           "positive_int"]

#: Whole numbers above this are refused before they reach numpy (an int64 holds up to 9.2e18).
_MAX_INT = 10**9


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    if value > _MAX_INT:
        raise argparse.ArgumentTypeError(f"must be at most {_MAX_INT:,}, got {text}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Options every command that reads a dataset shares."""
    p.add_argument("--columns", metavar="MAP.json",
                   help="JSON file mapping your column names (and coded values) to the canonical ones")
    p.add_argument("--dataset", metavar="FILE.toml",
                   help="dataset description (layout, columns, values, filters, time, outcomes, covariates; "
                        "see `outcomes describe`); default DATA/dataset.toml when it exists")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="date_order", action="store_const", const="dayfirst",
                       help="read dates like 03/04/2026 as day/month/year")
    order.add_argument("--monthfirst", dest="date_order", action="store_const", const="monthfirst",
                       help="read dates like 03/04/2026 as month/day/year")
    p.add_argument("--grace-days", type=_grace_days, default=14, metavar="N",
                   help="days after discharged_on still accepted for sessions and assessments (default 14)")
    p.add_argument("--earliest-date", default=EARLIEST_DATE, metavar="YYYY-MM-DD",
                   help=f"dates before this are quarantined as implausible (default {EARLIEST_DATE})")
    p.add_argument("--latest-date", default=None, metavar="YYYY-MM-DD",
                   help="dates after this are quarantined as implausible (default: the day after today)")
    p.add_argument("--timezone", default=None, metavar="ZONE",
                   help="the clinic's time zone (IANA name, e.g. Europe/London): timestamps written with a "
                        "UTC offset are converted to it (default: this machine's zone)")


def _grace_days(text: str) -> int:
    value = non_negative_int(text)
    if value > 36_500:
        raise argparse.ArgumentTypeError(f"must be at most 36,500 days (100 years), got {text}")
    return value


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Read and validate DATA with the shared dataset options."""
    from ..io import load_dataset
    from ..io.dates import DatePolicy, clinic_timezone, default_latest

    policy = DatePolicy(earliest=args.earliest_date, latest=args.latest_date or default_latest(),
                        timezone=args.timezone or clinic_timezone())
    return load_dataset(args.data, columns=args.columns, date_order=args.date_order,
                        grace_days=args.grace_days, dates=policy, description=getattr(args, "dataset", None))


def add_force_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="use an output folder that holds files outcomes did not write: they are moved "
                        "aside to <DIR>.replaced-<time>, never deleted")


def _inputs(args: argparse.Namespace) -> list[str]:
    return [v for v in (getattr(args, "data", None), getattr(args, "columns", None),
                        getattr(args, "dataset", None), getattr(args, "plan", None)) if v]


@contextlib.contextmanager
def outputs(args: argparse.Namespace, command: str, out: str | None = None) -> Iterator[OutputSet]:
    """The command's whole output set (see :func:`outcomes.files.output_set`) for ``--out``."""
    from ..files import output_set

    with output_set(out or args.out, command=command, inputs=_inputs(args),
                    force=getattr(args, "force", False)) as oset:
        yield oset


def load_cohort(args: argparse.Namespace, *, quiet: bool = False,
                options: Options | None = None) -> tuple[Dataset, Cohort]:
    """Validate DATA and build the cohort from the accepted rows; say on stderr what was left out."""
    from ..cohort import Cohort

    dataset = dataset_from_args(args)
    for name in ("patients", "assessments"):
        r = dataset.exports[name]
        if r.data is None or r.data.empty:
            what = ("was rejected" if r.status == "rejected" else
                    "has column names but no rows" if r.rows_read == 0 else
                    f"had no row accepted ({r.rows_read:,} read, {r.quarantined:,} quarantined)")
            raise NothingToAnalyse(f"the {name} export {what}, so there is nothing to analyse. Run "
                                   f"`outcomes validate {args.data}` to see why, fix the export and run again.")
    if not dataset.ok and not quiet:
        bad = [f"{n}: {r.quarantined} quarantined" if r.status == "problems" else f"{n}: rejected"
               for n, r in dataset.exports.items() if r.status in ("problems", "rejected")]
        print("Validation problems (" + "; ".join(bad) + "): only accepted rows are analysed. "
              f"Run `outcomes validate {args.data}` for the details.", file=sys.stderr)
    return dataset, Cohort.from_dataset(dataset, options=options)


