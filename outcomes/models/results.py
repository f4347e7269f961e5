"""Result objects shared by every analysis (STYLE.md: results that explain themselves).

A result is a frozen dataclass holding a coefficient table with the columns
``term, estimate, std_error, ci_lower, ci_upper, p_value`` (full precision;
rounding is for display), numbered remarks on assumptions, exclusions and
convergence, the fitting metadata needed to refit it elsewhere, and the raw
statsmodels result as ``.raw``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TABLE_COLUMNS", "ModelResult", "coefficient_table"]

#: Columns of every coefficient table (identifier-safe).
TABLE_COLUMNS = ["term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]


def coefficient_table(params: pd.Series, bse: pd.Series, conf_int: pd.DataFrame | np.ndarray,
                      pvalues: pd.Series) -> pd.DataFrame:
    """A coefficient table from statsmodels-style pieces (``conf_int`` as two columns)."""
    ci = np.asarray(conf_int, dtype=float)
    return pd.DataFrame({
        "term": [str(t) for t in params.index],
        "estimate": np.asarray(params, dtype=float),
        "std_error": np.asarray(bse, dtype=float),
        "ci_lower": ci[:, 0],
        "ci_upper": ci[:, 1],
        "p_value": np.asarray(pvalues, dtype=float),
    })


@dataclass(frozen=True)
class ModelResult:
    """One fitted model.

    Attributes
    ----------
    name : str
        Short identifier used in outputs (e.g. ``"trajectory_lmm"``, ``"ancova_week6"``).
    description : str
        One sentence saying what was estimated, on what scale.
    table : DataFrame
        :data:`TABLE_COLUMNS`; estimates on the model's scale (``scale`` says which).
    scale : str
        ``"points"``, ``"odds ratio"``, ``"hazard ratio"``, ``"rate ratio"``, ...
    formula : str
        The model formula as fitted (patsy syntax), or "" when not a formula model.
    method : str
        Estimation method, e.g. ``"REML (lbfgs)"``, ``"OLS"``, ``"GEE exchangeable"``.
    n_patients, n_observations : int
        What the model actually used.
    converged : bool or None
        None where convergence does not apply (closed-form fits).
    remarks : tuple of str
        Numbered in display: exclusions, convergence retries, assumptions.
    meta : dict
        Everything else needed to refit (groups, random-effects formula, family, offset...).
    raw : object
        The statsmodels (or other) result; not compared, not serialised.
    data : DataFrame or None
        The exact frame the model was fitted on (written as ``analysis_data*.csv``).
    """

    name: str
    description: str
    table: pd.DataFrame
    scale: str = "points"
    formula: str = ""
    method: str = ""
    n_patients: int = 0
    n_observations: int = 0
    converged: bool | None = None
    remarks: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False, compare=False)
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy), columns :data:`TABLE_COLUMNS`."""
        return self.table[TABLE_COLUMNS].copy()

    def describe(self) -> dict[str, Any]:
        """JSON-ready metadata (for ``models.json``): everything but the table and ``raw``."""
        return {"model": self.name, "description": self.description, "formula": self.formula,
                "method": self.method, "scale": self.scale, "n_patients": int(self.n_patients),
                "n_observations": int(self.n_observations), "converged": self.converged,
                "remarks": list(self.remarks), **self.meta}

    def summary(self, digits: int = 3) -> str:
        """A plain-text summary: what, how, the table, then numbered remarks."""
        lines = [f"{self.name}: {self.description}",
                 f"method {self.method or '-'}; {self.n_patients} patients, {self.n_observations} observations"
                 + ("" if self.converged is None else f"; converged: {'yes' if self.converged else 'NO'}")]
        if self.formula:
            lines.append(f"formula: {self.formula}")
        lines.append(self.to_frame().to_string(index=False, float_format=lambda x: f"{x:.{digits}g}"))
        lines += [f"{i}. {r}" for i, r in enumerate(self.remarks, start=1)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name}: {len(self.table)} terms, {self.n_patients} patients, "
                f"{self.n_observations} observations>")

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.4g}", escape=True)
        notes = "".join(f"<li>{esc(r)}</li>" for r in self.remarks)
        return (f"<div><strong>{esc(self.name)}</strong>: {esc(self.description)}<br>"
                f"<small>{esc(self.method)}; {self.n_patients} patients, {self.n_observations} observations"
                f"{'' if not self.formula else '; ' + esc(self.formula)}</small>{rows}"
                f"{'<ol>' + notes + '</ol>' if notes else ''}</div>")
