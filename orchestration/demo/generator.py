"""The built-in demo data set: every landing entity, realistic and reproducible.

``generate`` writes the seventeen entities of the landing contract in its file layout
(``<out_dir>/<system>/<entity>/<delivery-file>``) the way real export jobs would have
delivered them: one file per month of history, a catch-up file, then one file per day
for the last two weeks, where later files update rows of earlier ones. The data tell a
story a scorecard can show (growth, seasonality, regional and channel differences, a
few KPIs that deteriorate in the last three months and one that recovers), and carry
the imperfections a pipeline must survive: invalid rows of every kind the contract
names, orphan foreign keys, extra columns, offsets in timestamps and awkward text.

Everything is drawn from ``numpy.random.default_rng`` streams derived from the seed, and
nothing depends on the clock, so the same seed, scale and end date give byte-identical
files. The work is vectorised with numpy and pyarrow: scale 1 takes a few seconds and
scale 10 (half a million orders, 4.6 million delivered rows) well under a minute.

The code is split by job: ``business`` holds the volumes and the business's parameters,
``timeline`` the history's delivery periods, ``draws`` the random streams, ``world`` the
records and what later entities look up, ``columns`` the pyarrow helpers; ``crm``,
``sales`` and ``ops`` generate each system's records and ``reference`` the reference
entities; ``formats`` turns rows into CSV and Parquet columns, ``invalid_rows`` breaks a
few on purpose and ``delivery`` writes the files. This module runs them in order.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from expectations.contract import ENTITIES
from orchestration.demo.crm import (
    _gen_accounts,
    _gen_leads_and_spend,
    _gen_opportunities,
    _gen_tickets,
)
from orchestration.demo.delivery import GenerationSummary, _write_entity
from orchestration.demo.ops import _gen_attendance, _gen_employees, _gen_incidents, _gen_production
from orchestration.demo.reference import _gen_fx, _gen_products, _gen_reference, _gen_targets
from orchestration.demo.sales import _gen_orders
from orchestration.demo.timeline import DEFAULT_END_DATE, _calendar
from orchestration.demo.world import _World


def generate(
    out_dir: str | Path,
    scale: float = 1.0,
    seed: int = 42,
    end_date: date | None = None,
) -> GenerationSummary:
    """Write the demo landing data set under ``out_dir`` and say what was written.

    ``scale`` 1 is about 50,000 orders and 150,000 order lines over 26 months ending on
    ``end_date`` (default 2026-10-31); volumes grow linearly with it. Delivery files
    already in the entity folders under ``out_dir`` are replaced; nothing else is touched.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    end = end_date or DEFAULT_END_DATE
    out = Path(out_dir)
    cal = _calendar(end)
    w = _World(cal=cal, seed=int(seed), scale=float(scale))
    _gen_fx(w)
    _gen_products(w)
    _gen_reference(w)
    _gen_employees(w)
    _gen_attendance(w)
    _gen_accounts(w)
    _gen_leads_and_spend(w)
    _gen_opportunities(w)
    _gen_orders(w)
    _gen_targets(w)
    _gen_tickets(w)
    _gen_production(w)
    _gen_incidents(w)

    summary = GenerationSummary(
        out_dir=out,
        seed=int(seed),
        scale=float(scale),
        start_date=cal.start.item(),
        end_date=end,
    )
    for entity in ENTITIES:
        _write_entity(entity, w.records[entity.name], w, out, summary)
    return summary


__all__ = ["DEFAULT_END_DATE", "GenerationSummary", "generate"]
