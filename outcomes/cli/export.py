"""``outcomes export adam DATA --out DIR``: ADSL + ADQS (CDISC ADaM) and the dataset.toml reading them back."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ._common import add_data_options, add_force_option, load_cohort, outputs

HELP = "write the data as CDISC ADaM (adsl.csv, adqs.csv) with the dataset.toml that reads them back"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("export", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=("adam",), help="the format written (adam: ADSL and a BDS dataset ADQS)")
    p.add_argument("data", metavar="DATA", help="dataset folder (see `outcomes validate --help`)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="write adsl.csv, adqs.csv and dataset.toml here (outside DATA)")
    p.add_argument("--study", metavar="STUDYID", default=None,
                   help="STUDYID written on every row (default: the data folder's name in capitals)")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..files import atomic_write_text, frame_to_csv_text
    from ..io.adam import adam_tables

    dataset, cohort = load_cohort(args)
    study = args.study or re.sub(r"[^A-Z0-9_-]", "", Path(args.data).resolve().name.upper()) or "OUTCOMES"
    tables = adam_tables(cohort, study=study, source=str(args.data))
    with outputs(args, "export") as oset:
        atomic_write_text(oset.staging / "adsl.csv", frame_to_csv_text(tables.adsl))
        atomic_write_text(oset.staging / "adqs.csv", frame_to_csv_text(tables.adqs))
        atomic_write_text(oset.staging / "dataset.toml", tables.description)
    print(f"Wrote {len(tables.adsl):,} subjects (adsl.csv) and {len(tables.adqs):,} records of "
          f"{tables.adqs['PARAMCD'].nunique() if len(tables.adqs) else 0} parameter(s) (adqs.csv) to {args.out}, "
          f"with dataset.toml: `outcomes compare {args.out} --out ...` reads them back.")
    for note in tables.notes:
        print(f"Note: {note}.")
    return dataset.exit_code
