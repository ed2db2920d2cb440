"""Business days: Monday to Friday, less the public holidays of a configured region.

The holidays come from the ``holidays`` library (a maintained calendar of countries and
their subdivisions), chosen by ``KPI_HOLIDAYS_COUNTRY`` (ISO code, e.g. ``DE``) and
``KPI_HOLIDAYS_SUBDIVISION`` (e.g. ``BY``). Without a country only weekends are skipped.
The scorecard schedule and the owner reminders count days with the same calendar, so a
reminder always precedes the scorecard it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property


class CalendarError(ValueError):
    """A holiday region the library does not know; the message names the variable."""


@dataclass(frozen=True)
class BusinessCalendar:
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self):
        if self.subdivision and not self.country:
            raise CalendarError("KPI_HOLIDAYS_SUBDIVISION needs KPI_HOLIDAYS_COUNTRY as well.")
        self._holidays  # noqa: B018 - an unknown region fails when the settings load

    @cached_property
    def _holidays(self):
        if not self.country:
            return None
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise CalendarError(
                f"KPI_HOLIDAYS_COUNTRY={self.country!r} is not a country the holidays "
                "library knows; use an ISO code such as DE or US."
            )
        if self.subdivision and self.subdivision not in supported[self.country]:
            raise CalendarError(
                f"KPI_HOLIDAYS_SUBDIVISION={self.subdivision!r} is not a subdivision of "
                f"{self.country}; it has {', '.join(supported[self.country])}."
            )
        return holidays.country_holidays(self.country, subdiv=self.subdivision)

    @property
    def label(self) -> str:
        if not self.country:
            return "Monday to Friday"
        region = self.country + (f"-{self.subdivision}" if self.subdivision else "")
        return f"Monday to Friday except public holidays in {region}"

    def holiday(self, day: date) -> str | None:
        """The holiday's name, or None on an ordinary day."""
        return None if self._holidays is None else self._holidays.get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def business_day_of_month(self, day: date) -> int | None:
        """1 on the month's first business day, 2 on the second, …; None on other days."""
        if not self.is_business_day(day):
            return None
        first = day.replace(day=1)
        return sum(1 for d in range(day.day) if self.is_business_day(first + timedelta(days=d)))

    def nth_business_day(self, year: int, month: int, n: int) -> date:
        """The ``n``-th business day of the month (later months if it has fewer)."""
        day = date(year, month, 1) - timedelta(days=1)
        count = 0
        while count < n:
            day += timedelta(days=1)
            count += self.is_business_day(day)
        return day

    def business_days_before(self, day: date, n: int) -> date:
        """The business day ``n`` business days before ``day``."""
        count = 0
        while count < n:
            day -= timedelta(days=1)
            count += self.is_business_day(day)
        return day


def previous_month(day: date) -> date:
    """The first day of the month before ``day``'s."""
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)
