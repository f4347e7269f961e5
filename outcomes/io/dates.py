"""Parsing dates from real exports without guessing.

Accepted spellings, per value:

* ISO 8601: ``2026-03-04``, ``2026-03-04T08:30``, ``2026-03-04 08:30:15``
  (the fast path, vectorised by pandas);
* day-first or month-first: ``04/03/2026``, ``4.3.2026``, ``04-03-2026``,
  optionally followed by a time ``08:30`` or ``08:30:15``; four-digit years
  only;
* Excel date serials: a number from 20000 to 80000 (1954-10-03 to
  2119-01-10), counted from 1899-12-30 as Excel does (fractions are times);
* ISO timestamps with a UTC offset (``2026-03-04T08:30:00+01:00``, ``…Z``):
  converted to the clinic's time zone (:func:`clinic_timezone`) and stored as
  local clock time, said in the report.

Refused, never completed: partial dates (``2025``, ``2025-03``), and dates
outside the plausible window (:data:`EARLIEST`, and the day after the run by
default): one typo such as ``2199-01-01`` would otherwise move every
"as of" date and every week count of a cohort.

The order of day and month is decided once per file, across all its date
columns: a first part above 12 proves day-first, a second part above 12
proves month-first. When the data prove one order, it is used and reported;
when they prove neither or both, every value whose meaning depends on the
order (day ≠ month, both ≤ 12) is an error that asks for ``--dayfirst`` or
``--monthfirst``. A value such as ``05/05/2026`` means the same either way and
is always accepted.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import EARLIEST_DATE
from ._frames import _arrow_text

__all__ = ["EARLIEST", "PROBLEMS", "DateColumn", "DateOrder", "DatePolicy", "clinic_timezone",
           "default_latest", "infer_date_order"]

#: Dates before this are not plausible for a clinical record (``outcomes.config.EARLIEST_DATE``).
EARLIEST = EARLIEST_DATE

DateOrder = str  # "dayfirst" | "monthfirst"

_SLASH = r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
_SERIAL = r"^\d{5}(?:\.\d+)?$"
_PARTIAL = r"\d{4}(?:-\d{1,2})?"
_NAIVE = r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?"
_OFFSET = r"\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "s")
#: Codes stored in :attr:`DateColumn.problem`.
PROBLEMS = {"not_a_date": 1, "impossible": 2, "ambiguous": 3, "partial": 4, "implausible": 5}
_NOT_A_DATE, _IMPOSSIBLE, _AMBIGUOUS, _PARTIAL_CODE, _IMPLAUSIBLE = PROBLEMS.values()


@dataclass(frozen=True)
class DatePolicy:
    """What dates are plausible and which clock timestamps with a UTC offset are converted to.

    Attributes
    ----------
    earliest, latest : str
        ISO dates; a date outside ``[earliest, latest]`` is quarantined (default 1900-01-01 and
        the day after the run).
    timezone : str
        IANA name of the clinic's time zone (default :func:`clinic_timezone`).
    """

    earliest: str = EARLIEST
    latest: str = field(default_factory=lambda: default_latest())
    timezone: str = field(default_factory=lambda: clinic_timezone())

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo

        from ..errors import UsageError

        for name in ("earliest", "latest"):
            value = getattr(self, name)
            try:
                _dt.date.fromisoformat(str(value))
            except ValueError:
                raise UsageError(f"The {name} plausible date must be written YYYY-MM-DD, got {value!r}.") from None
        if self.earliest > self.latest:
            raise UsageError(f"The plausible dates run from {self.earliest} to {self.latest}: the first "
                             "must not be after the second.")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError, OSError):
            raise UsageError(f"{self.timezone!r} is not a time zone name; use an IANA name such as "
                             "'Europe/London' or 'UTC'.") from None

    def as_dict(self) -> dict[str, str]:
        return {"earliest_date": self.earliest, "latest_date": self.latest, "timezone": self.timezone}


def default_latest() -> str:
    """The latest plausible date by default: the day after today (the run's date)."""
    return (_dt.date.today() + _dt.timedelta(days=1)).isoformat()


def clinic_timezone() -> str:
    """The IANA name of the clinic's time zone: ``TZ``, else the machine's zone, else ``"UTC"``."""
    from zoneinfo import ZoneInfo

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            continue
        return name
    return "UTC"
SERIAL_MIN, SERIAL_MAX = 20000, 80000


def _iso_arrow(candidates: pd.Series) -> pd.Series | None:
    """Arrow's ISO 8601 parse (about 10x pandas'), used only when it reads every filled value.

    Arrow refuses the whole column at the first value it cannot read (an impossible day, a UTC
    offset, "2025-1-8"): pandas then parses value by value as before.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(candidates)
    if arr is None:
        return None
    try:
        stamps = pc.cast(arr, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if isinstance(stamps, pa.ChunkedArray):
        stamps = stamps.combine_chunks()
    return pd.Series(stamps.to_numpy(zero_copy_only=False), index=candidates.index)


def _iso_naive(candidates: pd.Series) -> pd.Series | None:
    """ISO 8601 values parsed (NaT where not ISO); None when any value carries a UTC offset."""
    fast = _iso_arrow(candidates)
    if fast is not None:
        return fast
    try:
        values = pd.to_datetime(candidates, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # offsets mixed with naive values
        return None
    return None if getattr(values.dt, "tz", None) is not None else values


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
    #: Values written with a UTF offset and converted to the clinic's time zone.
    converted: int = 0

    @classmethod
    def parse(cls, s: pd.Series, missing_values: tuple[str, ...], *, timezone: str | None = None
              ) -> "DateColumn":
        """Parse what needs no day/month order; ``timezone``: the clinic's (default :func:`clinic_timezone`)."""
        index = s.index
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            converted = 0
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert(timezone or clinic_timezone()).dt.tz_localize(None)
                converted = int(s.notna().sum())
            values = s.astype("datetime64[us]")
            missing = values.isna().to_numpy()
            return cls(values, missing, pd.Series(0, index=index, dtype=np.int8), converted=converted)
        text = s.astype(str) if not pd.api.types.is_string_dtype(s.dtype) else s
        text = text.fillna("")
        from .validate import _isin

        missing = _isin(text, missing_values)  # "" is always a missing value
        if not pd.api.types.is_string_dtype(s.dtype):
            missing |= s.isna().to_numpy()
        # pandas' ISO8601 reader completes "2025" and "2025-03" to the 1st: keep them out of it
        # (a partial date is at most 7 characters, so only short values are matched)
        partial = np.zeros(len(text), dtype=bool)
        short = (text.str.len() <= 7).to_numpy(dtype=bool) & ~missing
        if short.any():
            partial[short] = text[short].str.fullmatch(_PARTIAL).fillna(False).to_numpy(dtype=bool)
        offset = np.zeros(len(text), dtype=bool)
        values = _iso_naive(text.where(~(missing | partial)))
        if values is None:  # UTC offsets somewhere: take them out and parse them on their own
            offset = text.str.fullmatch(_OFFSET).fillna(False).to_numpy(dtype=bool) & ~missing
            values = _iso_naive(text.where(~(missing | partial | offset)))
            if values is None:  # an offset spelled oddly ("+01", "UTC", "[Europe/Paris]"): parse the plainly
                # naive values here and leave the odd ones to the slow path, row by row (one such value
                # used to make every timestamp of the file "not a real calendar date")
                plain = text.str.fullmatch(_NAIVE).fillna(False).to_numpy(dtype=bool) & ~(missing | partial | offset)
                values = _iso_naive(text.where(plain))
                if values is None:
                    values = pd.Series(pd.NaT, index=index)
        values = values.astype("datetime64[us]")
        problem = pd.Series(0, index=index, dtype=np.int8)
        problem[partial] = _PARTIAL_CODE
        col = cls(values, missing, problem)
        if offset.any():
            stamps = pd.to_datetime(text[offset].str.replace(r"\s+", "", regex=True), format="ISO8601",
                                    utc=True, errors="coerce")
            local = stamps.dt.tz_convert(timezone or clinic_timezone()).dt.tz_localize(None)
            ok = local.notna().to_numpy()
            col.values.loc[local.index[ok]] = local[ok].astype("datetime64[us]")
            col.problem.loc[local.index[~ok]] = _IMPOSSIBLE
            col.converted = int(ok.sum())
        todo = values.isna().to_numpy() & ~missing & ~partial & ~offset
        if todo.any():
            col._parse_slow(text[todo])
        return col

    def check_window(self, earliest: str, latest: str) -> None:
        """Mark dates before ``earliest`` or after ``latest`` (ISO dates) as implausible."""
        lo, hi = np.datetime64(earliest, "us"), np.datetime64(latest, "us") + np.timedelta64(1, "D")
        v = self.values.to_numpy(dtype="datetime64[us]")
        bad = ~np.isnat(v) & ((v < lo) | (v >= hi))
        if bad.any():
            self.problem[bad] = _IMPLAUSIBLE
            self.values[bad] = pd.NaT

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
