"""An independent reference implementation of the KPI catalog, used as a test oracle.

It reads a landing directory as ``docs/landing-contract.md`` describes it and
computes ``kpi.kpi_values`` as the KPI catalog defines it (the registry in
``dbt_project/models/marts/kpis/_kpis__models.yml`` and README's "The KPIs"), in plain
Python and pandas (csv, pyarrow, decimal, fractions; no SQL), so that tests can compare
the warehouse with it.

    load_landing(landing_dir) -> {"system.entity": DataFrame of valid, deduplicated,
                                  typed rows}
    compute_kpi_values(landing_dir, as_of=None, default_targets=None, directions=None)
        -> DataFrame with the kpi.kpi_values columns (a dense grid, see kpis.py)
    nonzero_slices(df) -> the rows the spec guarantees to exist

Typed columns: ``ts`` naive-UTC datetime64[us]; ``date`` datetime.date objects;
``decimal`` decimal.Decimal objects; ``integer`` Int64; ``boolean`` boolean; text and
enums str objects.  Output ``period_start``/``period_end`` are datetime.date objects;
nulls in the float columns are NaN.

Where the specification is silent this package decides as follows (the warehouse must
decide the same way for the comparison to hold):

Parsing
- Typed values (ts, date, decimal, integer, boolean) are stripped of surrounding
  whitespace before parsing; a whitespace-only typed value is unparseable (invalid
  row), not null.  Text is kept verbatim (no trimming; "  " is a present value).
  Enums are trimmed of spaces, then compared case-sensitively.
- An empty string is null in Parquet files as well as in CSV.
- decimal: sign, digits, optional point and optional exponent ("+5", ".5", "5.",
  "1e3"); rounded half away from zero to 4 decimals; |x| >= 10^14, NaN and infinity
  are unparseable.  A typed Parquet float is read as its shortest decimal repr.
- integer: an optional sign and digits only; "12.0", "12.5" and "1e2" are unparseable.
  Typed Parquet floats/decimals are accepted when whole.  Must fit 64 bits.
- date: exactly YYYY-MM-DD; "2024-01-05 10:00:00" in a date column is unparseable.  A
  typed Parquet timestamp is accepted for a date only at 00:00 UTC.
- ts: ISO 8601 as Python's datetime.fromisoformat reads it ("T" or space, optional
  seconds and fraction, fraction truncated to microseconds, offset Z / +HH / +HHMM /
  +HH:MM); a date alone is 00:00 UTC.  Offsets are converted to UTC.
- boolean: true/false/1/0, case-insensitive; "t", "yes" are unparseable.
- CSV: UTF-8 with an optional byte-order mark; blank lines are skipped; a row with more
  or fewer fields than the header is an invalid row; header names match exactly
  (case-sensitive, untrimmed); a repeated header name uses its first column.
- Delivery files: hidden files (leading ".") and sub-folders are ignored; any other
  file whose extension is not .csv/.parquet (any case) is an unreadable delivery
  (LandingFileError), as is a non-UTF-8 CSV or one missing a key or required column
  (a 0-byte CSV has no columns, so it is unreadable too).  Order: file names compared
  as UTF-8 bytes.
- Keys are compared typed: line_number "01" equals "1"; text keys are exact.

Time
- The as-of date comes from the anchors of all valid, deduplicated rows.  The calendar
  starts at the earliest anchor date of the rows *kept* after the cut-off; if a given
  as-of date precedes all data, the calendar is just the periods holding the as-of
  date.  No anchored row and no as-of date: an empty result.
- Entities without an anchor are never cut: fx rates dated after the cut-off are
  still rates (an order before a currency's first rate uses that rate even when it is
  after the cut-off); sales_targets, products, services, sla_policies and employees
  are used whole.
- Exactly the catalog's event columns are nulled at the cut-off.
- year is the calendar year; week is the ISO week (Monday), which may straddle years;
  quarters start in January, April, July and October.

KPIs
- Currency codes are compared exactly ("usd" is not USD); fx_rates rows for USD are
  ignored (USD is always 1).  The fx date of an order is the UTC date of ordered_at.
- An order in a currency without any rate is out of revenue, average_order_value and
  gross_margin_rate (numerator and denominator) but still counts in
  order_completion_time_days, which needs no amount.  A marketing_spend row without a
  rate leaves only itself out of cost_per_lead.
- A qualifying order without (valid) lines counts in average_order_value with 0 and
  contributes 0/0 to gross_margin_rate; gross_margin_rate may have a non-zero
  numerator with a zero denominator (value null).
- sla_compliance_rate: resolution time <= resolution_hours, compared exactly in
  microseconds (inclusive); on_time_delivery_rate: delivered_at <= promised_at.
- service_availability: an incident with resolved_at = started_at adds no downtime;
  with an empty catalog the 'all' row is 0 / 0 (value null); every catalog service
  has a row in every period.
- ticket_backlog and customer_retention_rate use e = min(period_end, cut-off).
- Targets: a KPI missing from default_targets has no default target and an amber
  tolerance of 0.  Revenue never uses a default target; its region targets match the
  region text exactly; a quarter or year sums the month rows with target_month in the
  period, and is null only when there are none.
- value = numerator / denominator computed exactly and rounded once to float.  Status
  is decided in exact arithmetic: a target or tolerance given as a float means the
  decimal it is written as (0.95 is 95/100), so a value exactly on a band edge is
  amber/green as the rule says.  variance = float(exact value - exact target).
- previous_value is null for the first calendar period; otherwise the preceding
  period's value on the dense grid (0 for sums and counts, null for 0/0 ratios).
"""

from .kpis import (
    CATALOG_DIRECTIONS,
    KPI_BY_ID,
    KPIS,
    OUTPUT_COLUMNS,
    apply_cutoff,
    as_of_date,
    compute_kpi_values,
    nonzero_slices,
    status_of,
)
from .landing import (
    LandingFileError,
    broken_deliveries,
    load_landing,
    load_landing_detailed,
)
from .periods import GRAINS

__all__ = [
    "CATALOG_DIRECTIONS",
    "GRAINS",
    "KPIS",
    "KPI_BY_ID",
    "LandingFileError",
    "OUTPUT_COLUMNS",
    "apply_cutoff",
    "as_of_date",
    "broken_deliveries",
    "compute_kpi_values",
    "load_landing",
    "load_landing_detailed",
    "nonzero_slices",
    "status_of",
]
