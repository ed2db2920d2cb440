"""What the entity generators build and look up.

``_Records`` holds one entity's records and their versions over time; ``_World`` holds
everything generated so far (the calendar, the records, and the facts later entities
depend on, such as exchange rates, the catalog, accounts and employees).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from orchestration.demo.business import _DEPARTMENTS, REGIONS
from orchestration.demo.draws import _rng
from orchestration.demo.timeline import _Calendar


@dataclass
class _Records:
    """One entity's records as the source system saw them over time.

    ``base`` holds the columns that never change. Each version is a moment (``NaT`` where
    a record never reached it) and the values of the changing columns from then on; the
    last present version before the cut-off is the record's state as of the end date.
    A record is delivered in the period of each version, in its state at the end of that
    period, which is how an export of "rows changed since the last export" behaves.
    """

    base: dict[str, pa.Array]
    versions: list[tuple[np.ndarray, dict[str, pa.Array]]]
    extras: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.versions[0][0])


@dataclass
class _World:
    """Everything generated so far that later entities look up."""

    cal: _Calendar
    seed: int
    scale: float
    records: dict[str, _Records] = field(default_factory=dict)
    # Filled in as the entities are generated, in dependency order.
    fx: np.ndarray | None = None  # US dollars per unit, [currency, day since fx_start]
    fx_start: np.datetime64 | None = None
    product_cost: np.ndarray | None = None
    product_price: np.ndarray | None = None
    product_category: np.ndarray | None = None
    acc_created: np.ndarray | None = None
    acc_churned: np.ndarray | None = None
    acc_region: np.ndarray | None = None
    acc_segment: np.ndarray | None = None
    emp_department: np.ndarray | None = None
    emp_region: np.ndarray | None = None
    emp_hired: np.ndarray | None = None
    emp_terminated: np.ndarray | None = None
    booked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # time, region, USD

    def rng(self, purpose: str) -> np.random.Generator:
        return _rng(self.seed, purpose)

    def usd_per_unit(self, currency: np.ndarray, ts: np.ndarray) -> np.ndarray:
        day = (ts.astype("datetime64[D]") - self.fx_start).astype(np.int64)
        return self.fx[currency, np.clip(day, 0, self.fx.shape[1] - 1)]

    def employees_of(self, department: str, region: int | None = None) -> np.ndarray:
        dept = [d[0] for d in _DEPARTMENTS].index(department)
        members = np.flatnonzero(self.emp_department == dept)
        if region is not None:
            local = members[self.emp_region[members] == region]
            if local.size:
                return local
        return members


def _pick_accounts(
    w: _World, rng: np.random.Generator, t: np.ndarray, region: np.ndarray | None
) -> np.ndarray:
    """An account that exists (and has not churned) at each time, in the given region."""
    out = np.empty(len(t), np.int64)
    groups = [(np.arange(len(t)), np.arange(len(w.acc_created)))]
    if region is not None:
        groups = [
            (np.flatnonzero(region == r), np.flatnonzero(w.acc_region == r))
            for r in range(len(REGIONS))
        ]
    for sel, members in groups:
        if not sel.size:
            continue
        k = np.maximum(np.searchsorted(w.acc_created[members], t[sel], side="right"), 1)
        choice = members[(rng.random(sel.size) * k).astype(np.int64)]
        for _ in range(4):
            gone = w.acc_churned[choice] <= t[sel]
            if not gone.any():
                break
            choice[gone] = members[(rng.random(gone.sum()) * k[gone]).astype(np.int64)]
        out[sel] = choice
    return out
