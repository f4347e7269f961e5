"""Parsing dates from real exports without guessing.

Accepted spellings, per value:

* ISO 8601: ``2026-03-04``, ``2026-03-04T08:30``, ``2026-03-04 08:30:15``
  (the fast path, vectorised by pandas);
* day-first or month-first: ``04/03/2026``, ``4.3.2026``, ``04-03-2026``,
  optionally followed by a time ``08:30`` or ``08:30:15``; four-digit years
  only;
* Excel date serials: a number from 20000 to 80000 (1954-10-03 to
  2119-01-10), counted from 1899-12-30 as Excel does (fractions are times).

The order of day and month is decided once per file, across all its date
columns: a first part above 12 proves day-first, a second part above 12
proves month-first. When the data prove one order, it is used and reported;
when they prove neither or both, every value whose meaning depends on the
order (day ≠ month, both ≤ 12) is an error that asks for ``--dayfirst`` or
``--monthfirst``. A value such as ``05/05/2026`` means the same either way and
is always accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["PROBLEMS", "DateColumn", "DateOrder", "infer_date_order"]

DateOrder = str  # "dayfirst" | "monthfirst"

_SLASH = r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
_SERIAL = r"^\d{5}(?:\.\d+)?$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "s")
#: Codes stored in :attr:`DateColumn.problem`.
PROBLEMS = {"not_a_date": 1, "impossible": 2, "ambiguous": 3}
_NOT_A_DATE, _IMPOSSIBLE, _AMBIGUOUS = PROBLEMS.values()
SERIAL_MIN, SERIAL_MAX = 20000, 80000


@dataclass
class DateColumn:
    """One date or datetime column split into what is settled and what waits for the date order.

    Build it with :meth:`parse`, then call :meth:`resolve` with the file's date order.
    """

    values: pd.Series  # datetime64[us], NaT where missing or not yet parsed
    missing: np.ndarray  # bool
    problem: pd.Series  # int8 code by row label: see PROBLEMS (0 = fine)
    slash: pd.DataFrame = field(default_factory=pd.DataFrame)  # parts of d/m/y values, by row label
    serials: int = 0

    @classmethod
    def parse(cls, s: pd.Series, missing_values: tuple[str, ...]) -> "DateColumn":
        index = s.index
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            values = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
            values = values.astype("datetime64[us]")
            missing = values.isna().to_numpy()
            return cls(values, missing, pd.Series(0, index=index, dtype=np.int8))
        text = s.astype(str) if not pd.api.types.is_string_dtype(s.dtype) else s
        text = text.fillna("")
        missing = text.isin(missing_values).to_numpy()  # "" is always a missing value
        if not pd.api.types.is_string_dtype(s.dtype):
            missing |= s.isna().to_numpy()
        candidates = text.where(~missing)
        try:
            values = pd.to_datetime(candidates, format="ISO8601", errors="coerce")
            if getattr(values.dt, "tz", None) is not None:
                raise ValueError("time zones")
        except (ValueError, TypeError):
            values = pd.Series(pd.NaT, index=index)
        values = values.astype("datetime64[us]")
        problem = pd.Series(0, index=index, dtype=np.int8)
        todo = values.isna().to_numpy() & ~missing
        col = cls(values, missing, problem)
        if todo.any():
            col._parse_slow(text[todo])
        return col

    def _parse_slow(self, text: pd.Series) -> None:
        # Excel serials
        is_serial = text.str.match(_SERIAL).fillna(False).to_numpy(dtype=bool)
        if is_serial.any():
            num = pd.to_numeric(text[is_serial], errors="coerce")
            ok = num.between(SERIAL_MIN, SERIAL_MAX)
            secs = (num[ok] * 86400).round().astype("int64").to_numpy()
            self.values.loc[num[ok].index] = (_EXCEL_EPOCH + secs.astype("timedelta64[s]")).astype(
                "datetime64[us]")
            self.serials += int(ok.sum())
            self.problem.loc[num[~ok].index] = _NOT_A_DATE
        rest = text[~is_serial]
        if rest.empty:
            return
        parts = rest.str.extract(_SLASH)
        is_slash = parts[0].notna()
        if is_slash.any():
            p = parts[is_slash].fillna("0").astype("int64")
            p.columns = ["a", "b", "year", "hour", "minute", "second"]
            self.slash = p
        iso = rest[~is_slash].str.extract(_ISO)
        is_iso = iso[0].notna()
        # ISO-shaped but rejected by the fast path: an impossible date such as 2026-02-30.
        self.problem.loc[iso.index[is_iso]] = _IMPOSSIBLE
        self.problem.loc[iso.index[~is_iso]] = _NOT_A_DATE

    def evidence(self) -> tuple[int, int]:
        """(values proving day-first, values proving month-first)."""
        if self.slash.empty:
            return 0, 0
        a, b = self.slash["a"], self.slash["b"]
        return int(((a > 12) & (b <= 12)).sum()), int(((b > 12) & (a <= 12)).sum())

    def resolve(self, order: DateOrder | None) -> None:
        """Turn day/month values into dates using ``order`` (None: only order-free values)."""
        if self.slash.empty:
            return
        p = self.slash
        if order == "dayfirst":
            day, month = p["a"], p["b"]
        elif order == "monthfirst":
            day, month = p["b"], p["a"]
        else:
            same = p["a"] == p["b"]
            self.problem.loc[p.index[~same]] = _AMBIGUOUS
            p = p[same]
            day, month = p["a"], p["b"]
        stamp = pd.to_datetime(
            pd.DataFrame({"year": p["year"], "month": month, "day": day,
                          "hour": p["hour"], "minute": p["minute"], "second": p["second"]}),
            errors="coerce",
        )
        bad = stamp.isna() | (p["hour"] > 23) | (p["minute"] > 59) | (p["second"] > 59)
        self.values.loc[p.index[~bad]] = stamp[~bad].astype("datetime64[us]")
        self.problem.loc[p.index[bad]] = _IMPOSSIBLE


def infer_date_order(columns: list[DateColumn], forced: DateOrder | None = None
                     ) -> tuple[DateOrder | None, str]:
    """Decide the day/month order for a file and say why.

    Returns the order (``None`` when it cannot be settled) and a sentence for the report.
    """
    day, month = (sum(x) for x in zip(*(c.evidence() for c in columns))) if columns else (0, 0)
    n_slash = sum(len(c.slash) for c in columns)
    if forced:
        note = f"{forced} (as given)"
        if (forced == "dayfirst" and month) or (forced == "monthfirst" and day):
            note += f"; {month if forced == 'dayfirst' else day} value(s) contradict it"
        return forced, note
    if n_slash == 0:
        return None, "ISO (YYYY-MM-DD)"
    if day and not month:
        return "dayfirst", f"day-first, inferred from {day} date(s) with a day above 12"
    if month and not day:
        return "monthfirst", f"month-first, inferred from {month} date(s) with a day above 12"
    if day and month:
        return None, (f"not settled: {day} date(s) read only as day-first and {month} only as "
                      "month-first; pass --dayfirst or --monthfirst")
    return None, ("not settled: no date has a day above 12; pass --dayfirst or --monthfirst")
