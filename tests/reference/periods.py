"""Grains, periods and the calendar of a run (the grains of macros/kpi_helpers.sql).

Periods are half-open ``[period_start, period_end)`` date ranges.  Timestamps are
handled as integer microseconds since 1970-01-01 00:00 UTC so that durations and
interval lengths stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

EPOCH = date(1970, 1, 1)


def day_to_us(d: date) -> int:
    """Microseconds since the epoch of ``d`` at 00:00 UTC."""
    return (d - EPOCH).days * US_PER_DAY


def us_to_day(us: int) -> date:
    """The UTC calendar date of a timestamp given in microseconds since the epoch."""
    # Floor division keeps timestamps before the epoch on the right day.
    return EPOCH + timedelta(days=us // US_PER_DAY)


def period_start(grain: str, d: date) -> date:
    """First day of the period of ``grain`` that contains ``d``."""
    if grain == "day":
        return d
    if grain == "week":
        # ISO weeks run Monday to Sunday; date.weekday() is 0 on Monday.
        return d - timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if grain == "year":
        return date(d.year, 1, 1)
    raise ValueError(f"unknown grain {grain!r}")


def period_end(grain: str, start: date) -> date:
    """First day after the period of ``grain`` that starts on ``start``."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    if grain in ("month", "quarter"):
        months = 1 if grain == "month" else 3
        index = start.year * 12 + (start.month - 1) + months
        return date(index // 12, index % 12 + 1, 1)
    if grain == "year":
        return date(start.year + 1, 1, 1)
    raise ValueError(f"unknown grain {grain!r}")


@dataclass(frozen=True)
class Period:
    grain: str
    start: date
    end: date
    # Timestamp bounds of the period: from start 00:00 UTC up to, not including, the
    # earlier of end 00:00 UTC and the cut-off.
    start_us: int
    end_us: int
    is_complete: bool

    @property
    def length_us(self) -> int:
        return self.end_us - self.start_us


class Calendar:
    """Every period of every grain from the one holding ``first_day`` to the one
    holding ``as_of``, with the cut-off at the start of the day after ``as_of``."""

    def __init__(self, first_day: date, as_of: date):
        self.first_day = first_day
        self.as_of = as_of
        self.cutoff_day = as_of + timedelta(days=1)
        self.cutoff_us = day_to_us(self.cutoff_day)
        self.periods: dict[str, list[Period]] = {}
        for grain in GRAINS:
            periods = []
            start = period_start(grain, first_day)
            last = period_start(grain, as_of)
            while start <= last:
                end = period_end(grain, start)
                periods.append(
                    Period(
                        grain=grain,
                        start=start,
                        end=end,
                        start_us=day_to_us(start),
                        end_us=min(day_to_us(end), self.cutoff_us),
                        # Ending exactly at the cut-off still counts as complete.
                        is_complete=end <= self.cutoff_day,
                    )
                )
                start = end
            self.periods[grain] = periods
        self._starts = {grain: {p.start for p in ps} for grain, ps in self.periods.items()}
        self._floor_cache: dict[tuple[str, date], date] = {}

    def floor(self, grain: str, d: date) -> date | None:
        """Start of the calendar period of ``grain`` holding ``d``; None outside it."""
        key = (grain, d)
        if key not in self._floor_cache:
            start = period_start(grain, d)
            inside = start in self._starts[grain] and d < self.cutoff_day
            self._floor_cache[key] = start if inside else None
        return self._floor_cache[key]
