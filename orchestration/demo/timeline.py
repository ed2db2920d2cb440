"""The history's time line: its span, its delivery periods and time arithmetic.

``_Calendar`` cuts the history into delivery periods (one file per month, a catch-up
file, then one per day for the last two weeks); the helpers turn days and durations into
timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from orchestration.demo.business import _MONTH_SEASON

DEFAULT_END_DATE = date(2026, 10, 31)
# History starts on the first day of the month this many months before the end month,
# so that there are always at least two full years to compare.
HISTORY_MONTHS = 25
# The last days are delivered one file per day; everything before in monthly files.
DAILY_DAYS = 14
# Months after the end month that already have a revenue plan.
PLAN_MONTHS_AHEAD = 3

_HOUR = 3600
_DAY = 86_400


@dataclass(frozen=True)
class _Calendar:
    start: np.datetime64  # first day of history
    end: np.datetime64  # last day (the as-of date)
    days: np.ndarray  # every day of history, datetime64[D]
    bounds: np.ndarray  # period starts and the cut-off, datetime64[s]
    names: tuple[str, ...]  # delivery file stem per period
    daily_from: int  # the first daily period

    @property
    def cutoff(self) -> np.datetime64:
        return self.bounds[-1]

    @property
    def periods(self) -> int:
        return len(self.names)

    def period_of(self, ts: np.ndarray) -> np.ndarray:
        """The delivery period of each timestamp; anything before history goes into the
        first, anything at or after the cut-off (or NaT) is ``periods`` (not delivered)."""
        idx = np.searchsorted(self.bounds, ts, side="right") - 1
        idx = np.maximum(idx, 0)
        idx[np.isnat(ts) | (ts >= self.cutoff)] = self.periods
        return idx

    def years(self, days: np.ndarray) -> np.ndarray:
        return (days - self.start).astype(np.int64) / 365.25

    def trouble(self, ts: np.ndarray) -> np.ndarray:
        """0 before the last three months, rising to 1 on the last day: the story's ramp."""
        begin = (self.end.astype("datetime64[M]") - 2).astype("datetime64[D]")
        span = (self.end - begin).astype(np.int64) + 1
        day = ts.astype("datetime64[D]")
        return np.clip((day - begin).astype(np.int64) / span, 0.0, 1.0)

    def months_before_end(self, ts: np.ndarray) -> np.ndarray:
        end_month = self.end.astype("datetime64[M]").astype(np.int64)
        return end_month - ts.astype("datetime64[M]").astype(np.int64)


def _calendar(end: date) -> _Calendar:
    end_d = np.datetime64(end, "D")
    end_month = end_d.astype("datetime64[M]")
    start_month = end_month - HISTORY_MONTHS
    window = end_d - (DAILY_DAYS - 1)
    window_month = window.astype("datetime64[M]")
    starts: list[np.datetime64] = []
    names: list[str] = []
    # Full months are named YYYY-MM; the catch-up file up to the daily window and the daily
    # files are named by their last day, YYYY-MM-DD. A month file never shares its month
    # with a dated file, so byte order of the names is delivery order.
    for m in np.arange(start_month, window_month):
        starts.append(m.astype("datetime64[D]"))
        names.append(str(m))
    if window_month.astype("datetime64[D]") < window:
        starts.append(window_month.astype("datetime64[D]"))
        names.append(str(window - 1))
    daily_from = len(starts)
    for d in np.arange(window, end_d + 1):
        starts.append(d)
        names.append(str(d))
    bounds = np.array([*starts, end_d + 1], dtype="datetime64[D]").astype("datetime64[s]")
    days = np.arange(start_month.astype("datetime64[D]"), end_d + 1)
    return _Calendar(days[0], end_d, days, bounds, tuple(names), daily_from)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday 0 … Sunday 6 (1970-01-01 was a Thursday)."""
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7


def _season(days: np.ndarray) -> np.ndarray:
    return _MONTH_SEASON[days.astype("datetime64[M]").astype(np.int64) % 12]


def _seconds(x: np.ndarray) -> np.ndarray:
    """Durations in (fractional) seconds as timedelta64[s], never negative."""
    return np.floor(np.maximum(x, 0.0)).astype(np.int64).astype("timedelta64[s]")


def _signed_seconds(x: np.ndarray) -> np.ndarray:
    return np.floor(x).astype(np.int64).astype("timedelta64[s]")


def _at(days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[s]") + _seconds(seconds)
