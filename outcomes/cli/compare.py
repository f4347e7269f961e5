"""``outcomes compare DATA --out DIR``: compare progression schedules (or trial arms)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from ..errors import EXIT_DATA_PROBLEMS, UsageError
from ._common import add_data_options, add_force_option, load_cohort, outputs

# The models, the reports (statsmodels, matplotlib) and the plan are imported in run(), so that
# `outcomes compare --help` stays fast.

HELP = "compare progression schedules: mixed model, ANCOVA, responders, time to response, flare rates"


def add_parser(sub: Any, *, epilog: str) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="dataset folder (see `outcomes validate --help`)")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="write compare.html/.pdf, models.csv, models.json, analysis_data*.csv and the other "
                        "tables here")
    p.add_argument("--plan", metavar="PLAN.toml",
                   help="analysis plan (see `outcomes plan --write`); its outcome, endpoint, reference, "
                        "covariates, visits and responder definitions are used")
    p.add_argument("--outcome", metavar="NAME", default=None,
                   help="outcome modelled: a built-in one (leg_pain, back_pain, odi, rmdq, ...) or one the dataset "
                        "description declares (default leg_pain)")
    p.add_argument("--endpoint-week", type=float, default=None, metavar="W",
                   help="endpoint week for ANCOVA and responders (default 6)")
    p.add_argument("--reference", metavar="SCHEDULE",
                   help="reference schedule (default: the first in sorted order)")
    p.add_argument("--pairwise", action="store_true",
                   help="also compare every pair of arms (ANCOVA at the endpoint; p-values adjusted by the plan's "
                        "multiplicity, Holm by default)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: print one JSON document on stdout")
    add_force_option(p)
    add_data_options(p)
    p.set_defaults(run=run)


def _time_axis(args: argparse.Namespace) -> Any:
    """The dataset description's time axis (None: dated data, or no description)."""
    from ..io.description import find_description, load_description

    path = getattr(args, "dataset", None) or find_description(args.data)
    return None if path is None else load_description(path).time


def run(args: argparse.Namespace) -> int:
    from ..models._reml import single_thread_blas

    # One BLAS thread for the whole command: its linear algebra is many small products (QR of an
    # n x 8 design, 50 imputations), and threaded OpenBLAS on 2 busy cores made them up to 10x slower
    # (tipping point 4.1 s -> 0.3 s at 20,000 patients, load 4.5).
    with single_thread_blas():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..models.compare import compare_schedules
    from ..plan import check_plan_against, load_plan
    from ..reports.compare import write_compare_report, write_comparison

    if args.endpoint_week is not None and not 0 < args.endpoint_week <= 104:
        raise UsageError(f"--endpoint-week must be between 0 and 104 weeks, got {args.endpoint_week:g}.")
    plan = None
    if args.plan:
        given = [f for f, v in (("--outcome", args.outcome), ("--endpoint-week", args.endpoint_week),
                                ("--reference", args.reference)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be combined with --plan: set them in {args.plan}.")
        plan = load_plan(args.plan)
    options = None
    if plan is not None:
        options = plan.options(time=_time_axis(args))
    dataset, cohort = load_cohort(args, options=options)
    outcome = plan.outcome if plan is not None else (args.outcome or "leg_pain")
    present = [o for o in cohort.outcomes.names if o in cohort.assessments.columns]
    if outcome not in present:
        how = f"set the plan's outcome in {args.plan}" if plan is not None else "choose one with --outcome"
        what = "is not an outcome" if outcome in cohort.assessments.columns else "is not a column"
        raise UsageError(f"{outcome!r} {what} of the assessments, so it cannot be compared; outcomes present: "
                         f"{', '.join(present) or 'none'} ({how}).")
    try:
        remarks = [] if plan is None else check_plan_against(plan, cohort)
        comparison = compare_schedules(cohort, outcome=args.outcome or "leg_pain",
                                       endpoint_week=args.endpoint_week, reference=args.reference, plan=plan,
                                       pairwise=args.pairwise)
    except ValueError as exc:
        raise UsageError(f"Cannot compare schedules: {exc}.") from None
    if remarks:
        comparison = replace(comparison, remarks=tuple(remarks) + comparison.remarks)
    if comparison.plan_file is not None:
        comparison.provenance["plan_sha256"] = comparison.plan_file.sha256()
    with outputs(args, "compare") as oset:
        written = write_comparison(comparison, oset.staging)
        written.update(write_compare_report(comparison, cohort, oset.staging))
    status = dataset.exit_code
    for failure in comparison.failures:
        which = "" if args.plan else (" (No --plan was given, so this is the default plan's analysis: "
                                      "`outcomes plan --write plan.toml` writes it out to read or change.)")
        print(f"outcomes compare: {failure}{which} The rest of the comparison was written to {args.out}.",
              file=sys.stderr)
        status = EXIT_DATA_PROBLEMS
    if not comparison.models and not comparison.failures:
        base = f"{comparison.outcome}_baseline"
        why = (f"no patient has a baseline {comparison.outcome} (an assessment on or before enrolment + "
               f"{cohort.options.baseline_window_days} days)" if base in cohort.patient_summary.columns
               and cohort.patient_summary[base].isna().all() else "no model could be fitted on these data")
        print(f"outcomes compare: {why}, so no schedule effect can be estimated; the descriptive tables were "
              f"still written to {args.out}. See the remarks there.", file=sys.stderr)
        status = EXIT_DATA_PROBLEMS
    if args.format == "json":
        json.dump(comparison.document(), sys.stdout, indent=2, default=str, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(comparison.summary())
        print(f"\nOutputs in {args.out}: " + ", ".join(sorted(written)))
    return status
