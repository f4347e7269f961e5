"""The comparison's tables as files: ``models.csv``, the other tables, the frames each model was
fitted on, ``plan.toml`` and ``models.json``, so anyone can refit the models elsewhere.

Writing belongs to reports, never to the analyses: :func:`outcomes.models.compare.compare_schedules`
returns a :class:`~outcomes.models.compare.Comparison` and this module writes it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd

from ..io.writers import atomic_open, atomic_write_text, output_path, prepare_out_dir, write_frame_csv
from ..models.compare import MODEL_COLUMNS, Comparison, _strict
from ..progress import status

__all__ = ["write_comparison"]


def write_comparison(comparison: Comparison, out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``models.csv`` (every coefficient), the other tables, the fitted frames and ``models.json``.

    ``analysis_data.csv`` is the trajectory model's frame; every other model's
    frame is ``analysis_data_<model>.csv``; ``models.json`` lists which file
    each model was fitted on. All files are written atomically.
    """
    out = prepare_out_dir(out_dir)
    status("writing models.csv, models.json and the analysis data")
    written: dict[str, str] = {}

    def put(name: str, frame: pd.DataFrame) -> None:
        p = output_path(out, name)
        with atomic_open(p) as fh:  # streamed by the Arrow writer: the bytes of frame_to_csv_text
            write_frame_csv(fh, frame)
        written[name] = str(p)

    put("models.csv", pd.DataFrame(comparison.rows(), columns=MODEL_COLUMNS))
    for name, frame in comparison.tables.items():
        put(f"{name}.csv", frame)
    if comparison.plan_file is not None:
        p = output_path(out, "plan.toml")
        atomic_write_text(p, comparison.plan_file.to_toml())
        written["plan.toml"] = str(p)
    for name in ("marginal_means", "contrasts", "responder_rates", "km", "by_schedule"):
        frame = getattr(comparison, name)
        if frame is not None and not frame.empty:
            put(f"{name}.csv", frame)
    described = []
    for i, m in enumerate(comparison.models):
        info = m.describe()
        if m.data is not None:
            fname = "analysis_data.csv" if i == 0 and m.name.startswith("trajectory") else \
                f"analysis_data_{m.name}.csv"
            put(fname, m.data)
            info["data_file"] = fname
        described.append(info)
    for res in (comparison.mmrm, comparison.lmm_visit):
        if res is None:
            continue
        info = res.describe()
        if res.data is not None:
            put(f"analysis_data_{res.name}.csv", res.data)
            info["data_file"] = f"analysis_data_{res.name}.csv"
        described.append(info)
    for extra in (comparison.imputation, comparison.tipping):
        if extra is not None:
            described.append(extra.describe())
    doc = {"outcome": comparison.outcome, "endpoint_week": comparison.endpoint_week,
           "reference": comparison.reference, "schedules": list(comparison.schedules), "models": described,
           "assumptions": list(comparison.assumptions), "remarks": list(comparison.remarks),
           "headline": list(comparison.headline), "failures": list(comparison.failures),
           "plan_sha256": None if comparison.plan_file is None else comparison.plan_file.sha256(),
           "provenance": comparison.provenance}
    p = output_path(out, "models.json")
    atomic_write_text(p, json.dumps(_strict(doc), indent=2, default=_json_default, allow_nan=False) + "\n")
    written["models.json"] = str(p)
    return written


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (pd.Timestamp,)):
        return x.isoformat()
    if isinstance(x, (set, tuple)):
        return list(x)
    return str(x)
