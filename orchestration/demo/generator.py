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
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from expectations.contract import (
    ENTITIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    ORDER_CHANNELS,
    PRIORITIES,
    SEGMENTS,
    SEVERITIES,
    STAGES,
    TICKET_CHANNELS,
    Entity,
)

DEFAULT_END_DATE = date(2026, 10, 31)
# History starts on the first day of the month this many months before the end month,
# so that there are always at least two full years to compare.
HISTORY_MONTHS = 25
# The last days are delivered one file per day; everything before in monthly files.
DAILY_DAYS = 14
# Months after the end month that already have a revenue plan.
PLAN_MONTHS_AHEAD = 3

# Volumes at scale 1; transactional entities grow linearly with the scale. The minimum
# keeps every entity populated even at tiny test scales.
_VOLUME = {
    "accounts": (3_000, 24),
    "leads": (30_000, 60),
    "opportunities": (6_000, 40),
    "tickets": (20_000, 60),
    "orders": (50_000, 80),
    "employees": (300, 16),
}

_HOUR = 3600
_DAY = 86_400

# --- the business ---------------------------------------------------------------------

REGIONS = ("north_america", "emea", "apac", "latam")
_REGION_SHARE = np.array([0.42, 0.30, 0.17, 0.11])
_REGION_GROWTH = np.array([0.14, 0.20, 0.36, 0.28])  # continuous growth per year
_REGION_TZ = np.array([-6, 1, 8, -4])  # hours from UTC of the region's business day
_REGION_PRICE_INDEX = np.array([1.00, 1.06, 1.03, 0.94])

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "BRL")
# US dollars per unit at the start of the history, drift per year, daily volatility.
_FX_START = np.array([1.0, 1.09, 1.27, 0.0068, 0.66, 0.19])
_FX_DRIFT = np.array([0.0, 0.02, 0.01, -0.04, 0.0, -0.06])
_FX_VOL = np.array([0.0, 0.0045, 0.005, 0.006, 0.006, 0.008])
# Currencies that trade in whole units: prices and amounts carry no cents.
_WHOLE_UNIT_CURRENCIES = np.array([c == "JPY" for c in CURRENCIES])
# Order currency mix per region (rows: regions, columns: CURRENCIES).
_REGION_CURRENCY_MIX = np.array(
    [
        [1.00, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.10, 0.60, 0.30, 0.00, 0.00, 0.00],
        [0.20, 0.00, 0.00, 0.45, 0.35, 0.00],
        [0.40, 0.00, 0.00, 0.00, 0.00, 0.60],
    ]
)
# The currency a region's CRM and marketing budgets are kept in.
_REGION_BOOK_CURRENCY = np.array([0, 1, 3, 5])

# Calendar months, January first: a summer lull and a strong fourth quarter.
_MONTH_SEASON = np.array([0.86, 0.90, 1.02, 0.98, 1.00, 0.97, 0.90, 0.86, 1.02, 1.06, 1.14, 1.24])

ORDER_CHANNEL_SHARE = np.array(
    [[0.50, 0.32, 0.18], [0.36, 0.44, 0.20], [0.30, 0.25, 0.45], [0.56, 0.20, 0.24]]
)
_ORDER_CHANNEL_GROWTH = np.array([0.08, -0.02, 0.0])
# Monday first. Online shops sell at weekends too; account managers and partners don't.
_ORDER_CHANNEL_WEEK = np.array(
    [
        [1.00, 1.00, 1.00, 1.00, 1.05, 0.85, 0.80],
        [1.15, 1.20, 1.20, 1.15, 1.00, 0.15, 0.10],
        [1.10, 1.15, 1.15, 1.10, 1.00, 0.20, 0.15],
    ]
)

_SEGMENT_SHARE = np.array([0.62, 0.28, 0.10])
_SEGMENT_CHURN_PER_YEAR = np.array([0.16, 0.09, 0.05])
_SEGMENT_QUANTITY = np.array([1.0, 2.2, 4.5])

_LEAD_SOURCE_SHARE = np.array([0.34, 0.12, 0.10, 0.26, 0.18])  # contract order
_LEAD_SOURCE_WEEK = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.70],
        [1.0, 1.0, 1.0, 1.0, 1.00, 0.40, 0.30],
        [1.0, 1.0, 1.0, 1.0, 1.00, 0.30, 0.20],
        [1.0, 1.0, 1.0, 1.0, 0.95, 0.80, 0.75],
        [1.2, 1.2, 1.2, 1.1, 0.90, 0.05, 0.02],
    ]
)
_LEAD_CONVERSION = np.array([0.08, 0.24, 0.12, 0.06, 0.05])
_COST_PER_LEAD_USD = np.array([38.0, 14.0, 260.0, 115.0, 85.0])

_PRIORITY_SHARE = np.array([0.30, 0.45, 0.18, 0.07])
_FIRST_RESPONSE_MEDIAN_H = np.array([7.0, 3.5, 1.2, 0.4])
_RESOLUTION_MEDIAN_H = np.array([60.0, 26.0, 9.0, 3.0])
_SLA_FIRST_RESPONSE_H = np.array([24.0, 8.0, 4.0, 1.0])
_SLA_RESOLUTION_H = np.array([168.0, 72.0, 24.0, 8.0])
_TICKET_CHANNEL_SHARE = np.array([0.40, 0.20, 0.25, 0.15])
_TICKET_CHANNEL_RESPONSE = np.array([1.0, 0.25, 0.35, 1.3])

_ACCOUNT_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne",
    "Soylent", "Hooli", "Vandelay", "Nordwind", "Aurora", "Helios", "Kestrel", "Meridian",
    "Pinnacle", "Quantum", "Redwood", "Sapphire", "Summit", "Tandem", "Vertex", "Zephyr",
    "Bluebird", "Cobalt", "Evergreen", "Falcon", "Granite", "Harbor", "Ironbridge", "Juniper",
    "Lumière", "Mistral", "Nova", "Orion", "Polaris", "Sierra", "Tundra", "Yukon",
)  # fmt: skip
_ACCOUNT_SUFFIXES = (
    "Inc.", "GmbH", "Ltd", "S.A.", "AG", "Corp.", "LLC", "K.K.", "Pty Ltd", "Ltda.",
    "& Co.", "Holdings", "Group", "SARL",
)  # fmt: skip
# Names that exercise quoting and escaping in every consumer of the data.
_AWKWARD_ACCOUNT_NAMES = (
    "<b>Acme & Sons</b>",
    "Müller, Schmidt & Partner GmbH",
    '"Quoted" Holdings, Inc.',
    "Zürich Versicherungs-Gesellschaft AG",
    "Société Générale d'Équipement",
    "東京テクノ株式会社",
)
_INDUSTRIES = (
    "Manufacturing", "Retail", "Healthcare", "Financial Services", "Software",
    "Logistics", "Education", "Public Sector", "Energy", "Media, Entertainment & Sports",
)  # fmt: skip

_FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Fatima", "Georg", "Hannah", "Ivan", "Jana",
    "Kenji", "Lucía", "Mohammed", "Nora", "Olivia", "Pedro", "Qing", "Rafael", "Sofia",
    "Tomás", "Uma", "Valentina", "Wei", "Xavier", "Yuki", "Zoë", "Björn", "Anne-Marie",
    "José", "Łukasz", "Priya", "Siobhán",
)  # fmt: skip
_LAST_NAMES = (
    "Müller", "Smith", "García", "Nguyen", "O'Brien", "Schmidt", "Rossi", "Tanaka",
    "Kowalski", "Dubois", "Silva", "Andersson", "Raman", "Zhang", "Álvarez", "Okafor",
    "Jensen", "Novák", "Fernández", "Hoffmann", "Suzuki", "Kim", "Lefèvre", "Costa",
)  # fmt: skip
_AWKWARD_PERSON_NAMES = ("Smith, Jr., Robert", 'Alexandra "Sasha" Petrova', "李 伟")

_DEPARTMENTS = (
    ("Sales", 0.22, ("Field Sales", "Inside Sales", "Partner Sales")),
    ("Support", 0.20, ("Tier 1", "Tier 2", "Customer Success")),
    ("Operations", 0.25, ("Assembly", "Logistics", "Quality")),
    ("Engineering", 0.14, ("Platform", "Apps", "SRE")),
    ("Marketing", 0.07, ("Growth", "Brand & Events")),
    ("Finance", 0.07, ("Accounting", "FP&A")),
    ("People", 0.05, ("Recruiting", "HR Operations")),
)

_CATEGORIES = (
    # name, product count, unit cost range (USD), cost / list price, order quantity mean
    ("Hardware", 16, (180.0, 2400.0), 0.64, 0.6),
    ("Software", 12, (40.0, 900.0), 0.22, 1.5),
    ("Services", 8, (300.0, 4000.0), 0.55, 0.3),
    ("Accessories", 14, (4.0, 90.0), 0.48, 2.5),
    ("Consumables", 10, (1.5, 30.0), 0.42, 9.0),
)
_PRODUCT_NOUNS = {
    "Hardware": ("Router", "Switch", "Edge Server", "Sensor Hub", "Gateway", "Controller"),
    "Software": ("Analytics Suite", "Fleet Manager", "Security Suite", "Backup", "Monitor"),
    "Services": ("Installation", "Onboarding", "Training Day", "Health Check"),
    "Accessories": ('Rack Kit 19"', "Cable 3m, braided", "Power Supply", "Mount", "Antenna"),
    "Consumables": ("Filter Pack", "Label Roll", "Cleaning Kit", "Thermal Paste"),
}
_PRODUCT_EDITIONS = ("Lite", "Pro", "Max", "Zürich Edition", "XL", "Mini", "2", "Plus")

_CARRIERS = ("UPS", "FedEx", "DHL Express", "DPD", "Royal Mail", "Yamato", "Correios", "Estafeta")
# Carrier mix per region, median transit as a share of the promised window, and whether
# the carrier runs into trouble in the last months of the story.
_REGION_CARRIER_MIX = np.array(
    [
        [0.45, 0.35, 0.20, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.00, 0.00, 0.45, 0.35, 0.20, 0.00, 0.00, 0.00],
        [0.00, 0.10, 0.45, 0.00, 0.00, 0.45, 0.00, 0.00],
        [0.00, 0.00, 0.35, 0.00, 0.00, 0.00, 0.35, 0.30],
    ]
)
_CARRIER_TRANSIT = np.array([0.50, 0.52, 0.55, 0.56, 0.60, 0.48, 0.62, 0.58])
_CARRIER_TROUBLE = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
_REGION_PROMISE_DAYS = np.array([3, 2, 3, 5])

_PLANTS = ("Monterrey", "Zürich", "Shenzhen")
_PLANT_TZ = np.array([-6, 1, 8])
_PLANT_RUNS_PER_DAY = np.array([4.0, 2.5, 3.5])
_PLANT_WEEK = np.array(
    [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 0]], dtype=float
)
_PLANT_DEFECT_RATE = np.array([0.013, 0.006, 0.015])
_PLANT_DEFECT_TROUBLE = np.array([2.6, 0.0, 0.3])  # extra defect rate at full trouble

_SERVICES = (
    # service_id, name, tier, availability target, outages per month, median outage min
    ("SVC-WEB", "Web Shop", "tier_1", 0.999, 0.8, 18.0),
    ("SVC-CHECKOUT", "Checkout & Payments", "tier_1", 0.999, 0.7, 15.0),
    ("SVC-API", "Partner API", "tier_1", 0.999, 0.9, 20.0),
    ("SVC-PORTAL", "Customer Portal", "tier_2", 0.995, 1.1, 50.0),
    ("SVC-CRM", "CRM (Salesforce-Sync)", "tier_2", 0.995, 1.0, 60.0),
    ("SVC-WMS", "Warehouse Management – Zürich", "tier_2", 0.995, 1.2, 45.0),
    ("SVC-BI", 'Reporting, "BI" & Exports', "tier_3", 0.99, 1.5, 140.0),
    ("SVC-MAIL", "E-Mail Gateway", "tier_3", 0.99, 1.3, 120.0),
)
# A service that was retired from the catalog but still has incidents: orphans.
_RETIRED_SERVICE = "SVC-LEGACY-FTP"

# Share of rows whose timestamps are written in a local time with its offset, and the
# offsets used (minutes east of UTC).
_OFFSET_SHARE = 0.10
_OFFSETS_MIN = np.array([60, 120, -300, -240, 330, 540, -180, 600])

# Entity file formats: most pick one; orders alternate between CSV and Parquet deliveries.
_FORMAT = {
    "tickets": "parquet",
    "order_lines": "parquet",
    "production_runs": "parquet",
    "attendance": "parquet",
    "orders": "alternate",
}
# How Parquet files store timestamps ("utc": timestamp with UTC zone, "naive": timestamp
# without zone, "string": ISO 8601 text) and decimals ("string" or "float").
_PARQUET_TS = {
    "tickets": "utc",
    "orders": "utc",
    "production_runs": "string",
    "attendance": "naive",
}
_PARQUET_DECIMAL = {"order_lines": "string", "attendance": "float"}
# Whether CSV timestamps in UTC are written with a trailing Z or without an offset.
_CSV_UTC_SUFFIX = {"crm": "Z", "sales": "Z", "ops": ""}
# Columns in a deliberately non-contract order: the contract allows any order.
_COLUMN_ORDER = {
    "shipments": (
        "order_id", "shipment_id", "carrier", "shipped_at", "delivered_at", "promised_at",
        "updated_at",
    ),
}  # fmt: skip

# Decimal places per decimal column: money in cents, rates in ten-thousandths.
_DECIMAL_PLACES = {
    "opportunities": {"amount": 2},
    "sla_policies": {"first_response_hours": 1, "resolution_hours": 1},
    "marketing_spend": {"amount": 2},
    "products": {"unit_cost": 2, "list_price": 2},
    "order_lines": {"unit_price": 2, "discount_amount": 2},
    "fx_rates": {"usd_per_unit": 4},
    "sales_targets": {"revenue_target": 2},
    "services": {"availability_target": 3},
    "attendance": {"scheduled_hours": 1},
}

# Invalid rows: the share per delivery file, capped so that no file exceeds 5 %.
# Reference entities get one corrupted *copy* of a row instead, so that the plan and the
# catalog stay whole; the catalogs of services and SLA policies stay clean.
_INVALID_RATE = 0.006
_INVALID_CAP = 0.05
_INVALID_COPIES = {"products": 1, "sales_targets": 1}
_INVALID_NONE = {"services", "sla_policies"}
# Entities delivered only when they change (no empty daily files).
_REFERENCE = {"sla_policies", "services", "products", "sales_targets", "fx_rates"}
# Share of enum values written with surrounding spaces (valid after trimming).
_PADDED_ENUM_RATE = 0.003
# Share of a daily file's rows sent again in the next daily file (export overlap).
_OVERLAP_RATE = 0.01


@dataclass
class GenerationSummary:
    """What ``generate`` wrote. Entity keys are ``system.entity``."""

    out_dir: Path
    seed: int
    scale: float
    start_date: date
    end_date: date
    records: dict[str, int] = field(default_factory=dict)  # distinct records generated
    rows: dict[str, int] = field(default_factory=dict)  # rows in delivery files
    invalid_rows: dict[str, int] = field(default_factory=dict)
    invalid_kinds: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # relative to out_dir

    @property
    def files_written(self) -> int:
        return len(self.files)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_invalid(self) -> int:
        return sum(self.invalid_rows.values())


# --- random streams, calendar ------------------------------------------------------------


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """An independent stream per purpose, so that changing one entity leaves the others."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode("utf-8"))])


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


def _local_hours(rng: np.random.Generator, mean: np.ndarray, sd: float, tz: np.ndarray):
    """Seconds after UTC midnight for events at local hour ``mean`` ± ``sd``.

    The local hour is shifted to UTC and wrapped into the same UTC day, so that every
    event stays on the day it was drawn for (and never after the last day).
    """
    local = np.clip(rng.normal(mean, sd), 0.0, 23.99)
    return ((local - tz) % 24.0) * _HOUR + rng.uniform(0, 59, size=np.shape(local))


def _spread(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """Draw ``n`` events over the cells of ``weights``; returns each event's flat cell."""
    p = weights.ravel() / weights.sum()
    counts = rng.multinomial(n, p)
    return np.repeat(np.arange(p.size), counts)


def _volume(name: str, scale: float) -> int:
    base, minimum = _VOLUME[name]
    return max(minimum, round(base * scale))


# --- pyarrow column helpers ---------------------------------------------------------------


def _ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded number; a negative number is null."""
    arr = pa.array(nums, pa.int64(), mask=nums < 0)
    return pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pc.cast(arr, pa.string()), width=width, padding="0"), ""
    )


def _pick(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """The value of each code; a negative code is null."""
    codes = np.asarray(codes)
    return pa.array(list(values), pa.string()).take(pa.array(codes, pa.int32(), mask=codes < 0))


def _ts(values: np.ndarray) -> pa.Array:
    values = values.astype("datetime64[s]")
    return pa.array(values, pa.timestamp("s"), mask=np.isnat(values))


def _date(values: np.ndarray) -> pa.Array:
    values = values.astype("datetime64[D]")
    return pa.array(values, pa.date32(), mask=np.isnat(values))


def _int(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, np.int64), pa.int64(), mask=null)


def _scaled(values: np.ndarray, places: int, null: np.ndarray | None = None) -> pa.Array:
    """A decimal held as an integer count of 10**-places, rounded half away from zero."""
    scaled = np.sign(values) * np.floor(np.abs(values) * 10**places + 0.5)
    return _int(scaled.astype(np.int64), null)


def _nulls(n: int, type_: pa.DataType) -> pa.Array:
    return pa.nulls(n, type_)


def _overwrite(arr: pa.Array, rng: np.random.Generator, values: Sequence[str]) -> pa.Array:
    """``arr`` with ``values`` put at random distinct rows (awkward names, for instance)."""
    rows = np.sort(rng.permutation(len(arr))[: min(len(values), len(arr))])
    mask = np.zeros(len(arr), bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), pa.array(list(values)[: rows.size]))


# --- records and versions -----------------------------------------------------------------


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


def _emit(entity: Entity, rec: _Records, cal: _Calendar) -> tuple[pa.Table, np.ndarray]:
    """All delivered rows of ``rec`` in delivery order and the period of each."""
    names = [c.name for c in entity.columns]
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    next_period = np.full(rec.count, cal.periods)
    for k in range(len(rec.versions) - 1, -1, -1):
        t = rec.versions[k][0].astype("datetime64[s]")
        period = cal.period_of(t)
        present = period < cal.periods
        # A version superseded within the same period is never seen by an export.
        emit = present & (period != next_period)
        next_period = np.where(present, period, next_period)
        idx = np.flatnonzero(emit)
        parts.append((k, idx, period[idx], t[idx]))
    parts.reverse()
    idx_all = np.concatenate([p[1] for p in parts])
    period_all = np.concatenate([p[2] for p in parts])
    time_all = np.concatenate([p[3] for p in parts])
    order = np.lexsort((idx_all, time_all.astype(np.int64), period_all))
    columns = {}
    for name in [*names, *rec.extras]:
        if name == "updated_at" and entity.has_updated_at:
            columns[name] = _ts(time_all)
            continue
        pieces = []
        for k, idx, _, _ in parts:
            source = rec.versions[k][1].get(name)
            if source is None:
                source = rec.base[name] if name in rec.base else rec.extras[name]
            pieces.append(source.take(pa.array(idx)))
        columns[name] = pa.concat_arrays(pieces)
    table = pa.table(columns).take(pa.array(order))
    return table, period_all[order]


# --- the entities ---------------------------------------------------------------------------


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


def _gen_fx(w: _World) -> None:
    """Business-day rates from six weeks before the history, as a random walk."""
    rng = w.rng("fx_rates")
    cal = w.cal
    w.fx_start = cal.start - 45
    days = np.arange(w.fx_start, cal.end + 1)
    years = (days - cal.start).astype(np.int64) / 365.25
    steps = rng.normal(0.0, 1.0, size=(len(CURRENCIES), len(days))) * _FX_VOL[:, None]
    walk = np.cumsum(steps, axis=1) + _FX_DRIFT[:, None] * years[None, :]
    raw = _FX_START[:, None] * np.exp(walk)
    rates = np.round(raw, 4)  # what the source publishes, so lookups use the same value
    business = _weekday(days) < 5
    # Weekends carry Friday's rate for the lookups, as the KPI formula does.
    last_business = np.maximum.accumulate(np.where(business, np.arange(len(days)), 0))
    w.fx = rates[:, last_business]
    w.fx[0] = 1.0
    cur, day = np.nonzero(business[None, :] & (np.arange(len(CURRENCIES)) > 0)[:, None])
    # Rows by date then currency, as a rates feed publishes them.
    order = np.lexsort((cur, day))
    cur, day = cur[order], day[order]
    t = days[day].astype("datetime64[s]") + np.timedelta64(16, "h")
    w.records["fx_rates"] = _Records(
        {
            "rate_date": _date(days[day]),
            "currency": _pick(CURRENCIES, cur),
            "usd_per_unit": _scaled(rates[cur, day], 4),
        },
        [(t, {})],
    )


def _gen_products(w: _World) -> None:
    rng = w.rng("products")
    cat_idx = np.concatenate([np.full(c[1], i) for i, c in enumerate(_CATEGORIES)])
    n = len(cat_idx)
    lo = np.array([c[2][0] for c in _CATEGORIES])[cat_idx]
    hi = np.array([c[2][1] for c in _CATEGORIES])[cat_idx]
    cost = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    cost = np.round(cost, 2)
    cost_share = np.array([c[3] for c in _CATEGORIES])[cat_idx]
    price = np.round(cost / cost_share * rng.uniform(0.95, 1.05, n), 2)
    names = []
    for cat_name, count, *_ in _CATEGORIES:
        nouns = _PRODUCT_NOUNS[cat_name]
        for j in range(count):  # a fixed catalog of 60 products, not a data-sized loop
            edition = _PRODUCT_EDITIONS[(j // len(nouns)) % len(_PRODUCT_EDITIONS)]
            names.append(f"{nouns[j % len(nouns)]} {edition}")
    no_list_price = rng.random(n) < 0.05
    w.product_cost, w.product_price, w.product_category = cost, price, cat_idx
    created = np.full(n, w.cal.start.astype("datetime64[s]") - np.timedelta64(20 * _DAY, "s"))
    # A price review in the daily window re-delivers some products with new list prices.
    review = w.cal.bounds[w.cal.daily_from + 4] + np.timedelta64(9 * _HOUR, "s")
    reviewed = rng.random(n) < 0.15
    new_price = np.round(price * 1.04, 2)
    w.records["products"] = _Records(
        {
            "product_id": _ids("PRD-", np.arange(1, n + 1), 4),
            "product_name": pa.array(names, pa.string()),
            "category": _pick([c[0] for c in _CATEGORIES], cat_idx),
            "unit_cost": _scaled(cost, 2),
        },
        [
            (created, {"list_price": _scaled(price, 2, no_list_price)}),
            (
                np.where(reviewed, review, np.datetime64("NaT", "s")),
                {"list_price": _scaled(new_price, 2, no_list_price)},
            ),
        ],
    )


def _gen_reference(w: _World) -> None:
    t = np.full(4, w.cal.start.astype("datetime64[s]"))
    w.records["sla_policies"] = _Records(
        {
            "priority": pa.array(list(PRIORITIES), pa.string()),
            "first_response_hours": _scaled(_SLA_FIRST_RESPONSE_H, 1),
            "resolution_hours": _scaled(_SLA_RESOLUTION_H, 1),
        },
        [(t, {})],
    )
    w.records["services"] = _Records(
        {
            "service_id": pa.array([s[0] for s in _SERVICES], pa.string()),
            "service_name": pa.array([s[1] for s in _SERVICES], pa.string()),
            "tier": pa.array([s[2] for s in _SERVICES], pa.string()),
            "availability_target": _scaled(np.array([s[3] for s in _SERVICES]), 3),
        },
        [(np.full(len(_SERVICES), w.cal.start.astype("datetime64[s]")), {})],
    )


def _gen_employees(w: _World) -> None:
    rng = w.rng("employees")
    cal = w.cal
    n = _volume("employees", w.scale)
    shares = np.array([d[1] for d in _DEPARTMENTS])
    # Largest remainder with at least one per department, so tiny scales have them all.
    counts = np.maximum(1, np.floor(shares * n)).astype(int)
    while counts.sum() < n:
        counts[np.argmax(shares * n - counts)] += 1
    dept = np.repeat(np.arange(len(_DEPARTMENTS)), counts)
    n = len(dept)
    team_count = np.array([len(d[2]) for d in _DEPARTMENTS])[dept]
    team = (rng.random(n) * team_count).astype(int)
    team_offset = np.concatenate([[0], np.cumsum([len(d[2]) for d in _DEPARTMENTS])])[:-1]
    team_names = [t for d in _DEPARTMENTS for t in d[2]]
    team_code = np.where(rng.random(n) < 0.04, -1, team_offset[dept] + team)

    customer_facing = np.isin(dept, [0, 1])
    region = np.where(
        customer_facing,
        rng.choice(len(REGIONS), n, p=_REGION_SHARE),
        np.where(rng.random(n) < 0.7, 1, 0),
    )
    region_out = np.where(rng.random(n) < 0.04, -1, region)

    start = cal.start
    # Two thirds were hired before the history starts; the rest join as the firm grows.
    before = rng.random(n) < 0.65
    hired = np.where(
        before,
        start - rng.integers(30, 9 * 365, n),
        start + (np.sqrt(rng.random(n)) * (cal.end - start).astype(np.int64)).astype(int),
    ).astype("datetime64[D]")
    first_of_dept = np.r_[0, np.cumsum(counts)[:-1]]
    hired[first_of_dept] = start - rng.integers(6 * 365, 10 * 365, len(first_of_dept))
    tenure = rng.exponential(365.25 / 0.11, n).astype(int) + 30
    terminated = (np.maximum(hired, start - 60) + tenure).astype("datetime64[D]")
    terminated[first_of_dept] = np.datetime64("NaT")
    leaves = terminated <= cal.end
    terminated = np.where(leaves, terminated, np.datetime64("NaT", "D"))

    # Each team reports to its earliest hire, who reports to the department head.
    key = dept * 100 + np.maximum(team_code, 0)
    by_team = np.lexsort((hired.astype(np.int64), key))
    team_keys, first = np.unique(key[by_team], return_index=True)
    lead = by_team[first][np.searchsorted(team_keys, key)]
    head = first_of_dept[dept]
    manager = np.where(lead == np.arange(n), head, lead)
    manager = np.where(np.arange(n) == head, -1, manager)

    first_names = _pick(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), n))
    last_names = _pick(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
    full = _overwrite(
        pc.binary_join_element_wise(first_names, last_names, " "), rng, _AWKWARD_PERSON_NAMES
    )

    w.emp_department, w.emp_region = dept, region
    hire_ts = hired.astype("datetime64[s]") + np.timedelta64(9 * _HOUR, "s")
    term_ts = terminated.astype("datetime64[s]") + np.timedelta64(17 * _HOUR, "s")
    w.records["employees"] = _Records(
        {
            "employee_id": _ids("EMP-", np.arange(1, n + 1), 5),
            "full_name": full,
            "department": _pick([d[0] for d in _DEPARTMENTS], dept),
            "team": _pick(team_names, team_code),
            "region": _pick(REGIONS, region_out),
            "manager_id": _ids("EMP-", np.where(manager >= 0, manager + 1, -1), 5),
            "hired_at": _date(hired),
        },
        [
            (hire_ts, {"terminated_at": _nulls(n, pa.date32())}),
            (term_ts, {"terminated_at": _date(terminated)}),
        ],
    )
    w.emp_hired, w.emp_terminated = hired, terminated


def _gen_attendance(w: _World) -> None:
    rng = w.rng("attendance")
    cal = w.cal
    days = cal.days
    md = (
        (days.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100
        + (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
        + 1
    )
    holiday = np.isin(md, [101, 1225, 1226])
    workdays = days[(_weekday(days) < 5) & ~holiday]
    n_emp, n_wd = len(w.emp_hired), len(workdays)
    employed = (workdays[None, :] >= w.emp_hired[:, None]) & ~(
        workdays[None, :] >= w.emp_terminated[:, None]
    )
    # Leave comes in blocks: about four a year of one to ten days.
    years = n_wd / 261
    n_blocks = rng.poisson(4.2 * years, n_emp)
    block_emp = np.repeat(np.arange(n_emp), n_blocks)
    block_start = rng.integers(0, n_wd, block_emp.size)
    block_len = rng.integers(1, 11, block_emp.size)
    day_emp = np.repeat(block_emp, block_len)
    offsets = np.arange(block_len.sum()) - np.repeat(np.cumsum(block_len) - block_len, block_len)
    day_idx = np.repeat(block_start, block_len) + offsets
    keep = day_idx < n_wd
    on_leave = np.zeros((n_emp, n_wd), bool)
    on_leave[day_emp[keep], day_idx[keep]] = True

    emp, wd = np.nonzero(employed)
    work_date = workdays[wd]
    part_time = rng.random(n_emp) < 0.05
    hours = np.where(on_leave[emp, wd], 0.0, np.where(part_time[emp], 6.0, 8.0))
    # Support loses people in the last months: fewer check-ins (and slower tickets).
    support = w.emp_department[emp] == 1
    p_present = 0.968 - 0.01 * np.isin(_weekday(work_date), [0, 4])
    p_present = p_present - 0.11 * support * cal.trouble(work_date)
    present = (hours > 0) & (rng.random(emp.size) < p_present)
    tz = _REGION_TZ[w.emp_region[emp]]
    # Local morning, wrapped into the work date's UTC day like every event here.
    check_in = _at(work_date, _local_hours(rng, np.full(emp.size, 8.7), 0.45, tz))
    stay = hours * _HOUR + rng.normal(35 * 60, 25 * 60, emp.size)
    check_out = check_in + _seconds(np.maximum(stay, 15 * 60))
    forgot = rng.random(emp.size) < 0.012
    check_in = np.where(present, check_in, np.datetime64("NaT", "s"))
    # A clock-out after the cut-off has not happened yet as of the end date.
    synced = present & ~forgot & (check_out < cal.cutoff)
    check_out = np.where(synced, check_out, np.datetime64("NaT", "s"))

    # In the daily window some clock-outs sync a day late: the row comes first without
    # check_out and again with it in the next day's file (later delivery wins).
    t_day = work_date.astype("datetime64[s]") + np.timedelta64(12 * _HOUR, "s")
    late = (
        (t_day >= cal.bounds[cal.daily_from]) & ~np.isnat(check_out) & (rng.random(emp.size) < 0.03)
    )
    w.records["attendance"] = _Records(
        {
            "employee_id": _ids("EMP-", emp + 1, 5),
            "work_date": _date(work_date),
            "scheduled_hours": _scaled(hours, 1),
            "check_in_at": _ts(check_in),
        },
        [
            (
                np.where(late, t_day, np.datetime64("NaT", "s")),
                {"check_out_at": _ts(np.full(emp.size, np.datetime64("NaT", "s")))},
            ),
            (
                np.where(late, t_day + np.timedelta64(_DAY, "s"), t_day),
                {"check_out_at": _ts(check_out)},
            ),
        ],
    )


def _gen_accounts(w: _World) -> None:
    rng = w.rng("accounts")
    cal = w.cal
    n = _volume("accounts", w.scale)
    # At least two accounts per region so every region has customers from day one.
    region = np.concatenate(
        [np.repeat(np.arange(len(REGIONS)), 2), rng.choice(len(REGIONS), n - 8, p=_REGION_SHARE)]
    )
    n_days = len(cal.days)
    # A third were migrated into the CRM in the first weeks; the rest sign up as the
    # business grows (faster where the region grows faster).
    migrated = rng.random(n) < 0.34
    migrated[:8] = True
    u = rng.random(n)
    g = _REGION_GROWTH[region]
    grown = np.log1p(u * np.expm1(g * n_days / 365.25)) / g * 365.25
    day = np.where(migrated, rng.integers(0, 40, n), np.minimum(grown.astype(int), n_days - 1))
    day[:8] = 0
    local = np.where(migrated, 9.0, 11.0)
    created = _at(cal.days[day], _local_hours(rng, local, 2.5, _REGION_TZ[region]))
    created[:8] = cal.start.astype("datetime64[s]") + np.timedelta64(300, "s") * np.arange(1, 9)
    order = np.lexsort((np.arange(n), created.astype(np.int64)))
    region, created, migrated = region[order], created[order], migrated[order]

    segment = rng.choice(3, n, p=_SEGMENT_SHARE)
    life = rng.exponential(365.25 / _SEGMENT_CHURN_PER_YEAR[segment]) * _DAY
    churned = created + _seconds(life + 3 * _DAY)
    churned = np.where(churned < cal.cutoff, churned, np.datetime64("NaT", "s"))

    words = rng.integers(0, len(_ACCOUNT_WORDS), (2, n))
    suffix = rng.integers(0, len(_ACCOUNT_SUFFIXES), n)
    name = pc.binary_join_element_wise(
        _pick(_ACCOUNT_WORDS, words[0]), _pick(_ACCOUNT_WORDS, words[1]),
        _pick(_ACCOUNT_SUFFIXES, suffix), " ",
    )  # fmt: skip
    name = _overwrite(name, rng, _AWKWARD_ACCOUNT_NAMES)
    industry = np.where(rng.random(n) < 0.06, -1, rng.integers(0, len(_INDUSTRIES), n))
    owner = np.empty(n, np.int64)
    for r in range(len(REGIONS)):
        reps = w.employees_of("Sales", r)
        mine = np.flatnonzero(region == r)
        owner[mine] = reps[rng.integers(0, reps.size, mine.size)]
    owner = np.where(rng.random(n) < 0.08, -1, owner + 1)

    w.acc_created, w.acc_churned, w.acc_region, w.acc_segment = created, churned, region, segment
    w.records["accounts"] = _Records(
        {
            "account_id": _ids("ACC-", np.arange(1, n + 1), 6),
            "account_name": name,
            "industry": _pick(_INDUSTRIES, industry),
            "segment": _pick(SEGMENTS, segment),
            "region": _pick(REGIONS, region),
            "owner_id": _ids("EMP-", owner, 5),
            "created_at": _ts(created),
        },
        [
            (created, {"churned_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (churned, {"churned_at": _ts(churned)}),
        ],
        extras={"import_batch": _pick(("crm-migration-2024", "live"), (~migrated).astype(int))},
    )


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


def _gen_leads_and_spend(w: _World) -> None:
    rng = w.rng("leads")
    cal = w.cal
    days = cal.days
    n_days = len(days)
    years = cal.years(days)
    # Events: about ten a year per region; event leads come in the days after one.
    event_day = (rng.random((len(REGIONS), n_days)) < 10 / 365) & (_weekday(days) < 5)
    kernel = np.array([1.0, 0.8, 0.5, 0.3, 0.15])
    boost = np.zeros((len(REGIONS), n_days))
    for lag, k in enumerate(kernel):  # five lags, not a per-row loop
        boost[:, lag:] += k * event_day[:, : n_days - lag]
    weights = (
        _LEAD_SOURCE_SHARE[:, None, None]
        * _REGION_SHARE[None, :, None]
        * np.exp(_REGION_GROWTH[None, :, None] * years[None, None, :])
        * _season(days)[None, None, :]
        * _LEAD_SOURCE_WEEK[:, _weekday(days)][:, None, :]
    )
    weights[2] *= 0.15 + 6.0 * boost
    noise = rng.lognormal(0.0, 0.12, weights.shape)
    weights *= noise
    n = _volume("leads", w.scale)
    cell = _spread(rng, n, weights)
    source, region, day = np.unravel_index(cell, weights.shape)
    created = _at(days[day], _local_hours(rng, np.full(n, 12.5), 3.2, _REGION_TZ[region]))
    order = np.lexsort((cell, created.astype(np.int64)))
    source, region, created = source[order], region[order], created[order]

    converts = rng.random(n) < _LEAD_CONVERSION[source] * np.array([1.0, 0.9, 1.1, 0.85])[region]
    disqualified = ~converts & (rng.random(n) < 0.45)
    settle = rng.gamma(2.0, 4.0, n) * _DAY + 3600  # days until a lead is settled
    final_t = created + _seconds(settle)
    final_t = np.where(converts | disqualified, final_t, np.datetime64("NaT", "s"))
    # Qualification comes before the lead is settled, so the versions stay in time order.
    qualifies = converts | (rng.random(n) < 0.3)
    open_delay = rng.gamma(2.0, 2.0, n) * _DAY
    qualify_delay = np.where(np.isnat(final_t), open_delay, settle * rng.uniform(0.2, 0.6, n))
    qualify_t = np.where(qualifies, created + _seconds(qualify_delay), np.datetime64("NaT", "s"))
    account = _pick_accounts(w, rng, np.where(np.isnat(final_t), created, final_t), region)
    owner_pool = w.employees_of("Sales")
    owner = np.where(rng.random(n) < 0.22, -1, owner_pool[rng.integers(0, owner_pool.size, n)] + 1)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    no_text = _nulls(n, pa.string())
    status_final = np.where(converts, 2, 3)
    w.records["leads"] = _Records(
        {
            "lead_id": _ids("LEAD-", np.arange(1, n + 1), 7),
            "created_at": _ts(created),
            "source": _pick(LEAD_SOURCES, source),
            "region": _pick(REGIONS, region),
            "owner_id": _ids("EMP-", owner, 5),
        },
        [
            (
                created,
                {
                    "status": _pick(LEAD_STATUSES, np.zeros(n, int)),
                    "converted_at": no_ts,
                    "account_id": no_text,
                },
            ),
            (
                qualify_t,
                {
                    "status": _pick(LEAD_STATUSES, np.ones(n, int)),
                    "converted_at": no_ts,
                    "account_id": no_text,
                },
            ),
            (
                final_t,
                {
                    "status": _pick(LEAD_STATUSES, status_final),
                    "converted_at": _ts(np.where(converts, final_t, np.datetime64("NaT", "s"))),
                    "account_id": _ids("ACC-", np.where(converts, account + 1, -1), 6),
                },
            ),
        ],
    )

    # Spend follows the expected (not the drawn) leads: budgets are set in advance.
    expected = weights / weights.sum() * n
    cpl = _COST_PER_LEAD_USD[:, None, None] * rng.lognormal(0.0, 0.18, weights.shape)
    usd = expected * cpl
    usd[1] = np.where(_weekday(days)[None, :] < 5, usd[1], 0.0)  # referral bonuses on weekdays
    s, r, d = (a.ravel() for a in np.meshgrid(*map(np.arange, weights.shape), indexing="ij"))
    keep = np.lexsort((r, s, d))
    s, r, d = s[keep], r[keep], d[keep]
    currency = _REGION_BOOK_CURRENCY[r]
    t = days[d].astype("datetime64[s]") + np.timedelta64(23 * _HOUR, "s")
    local = usd[s, r, d] / w.usd_per_unit(currency, t)
    local = np.where(_WHOLE_UNIT_CURRENCIES[currency], np.round(local), local)
    w.records["marketing_spend"] = _Records(
        {
            "spend_date": _date(days[d]),
            "channel": _pick(LEAD_SOURCES, s),
            "region": _pick(REGIONS, r),
            "amount": _scaled(local, 2),
            "currency": _pick(CURRENCIES, currency),
        },
        [(t, {})],
    )


def _gen_opportunities(w: _World) -> None:
    rng = w.rng("opportunities")
    cal = w.cal
    days = cal.days
    n = _volume("opportunities", w.scale)
    weights = (
        np.exp(0.22 * cal.years(days)) * _season(days) * np.where(_weekday(days) < 5, 1.0, 0.08)
    )
    day = _spread(rng, n, weights)
    created = _at(days[day], rng.uniform(13 * _HOUR, 22 * _HOUR, n))
    created = np.sort(created)
    account = _pick_accounts(w, rng, created, None)
    segment, region = w.acc_segment[account], w.acc_region[account]
    usd = rng.lognormal(np.log(np.array([9_000.0, 42_000.0, 160_000.0])[segment]), 0.6)
    cycle = rng.gamma(2.2, np.array([14.0, 25.0, 42.0])[segment]) * _DAY + 2 * _HOUR
    closed = created + _seconds(cycle)
    # Win rate dips for four months and recovers in the last three (a new sales playbook).
    ago = cal.months_before_end(closed)
    story = np.select([ago >= 7, ago >= 3, ago == 2, ago == 1], [1.0, 0.62, 0.92, 1.0], 1.08)
    p_win = (
        np.array([0.34, 0.28, 0.22])[segment]
        * np.array([1.0, 1.05, 0.95, 0.9])[region]
        * story
        * np.where(rng.random(n) < 0.5, 0.9, 1.1)
    )
    won = rng.random(n) < p_win
    is_closed = closed < cal.cutoff
    mid = created + _seconds(cycle * rng.uniform(0.3, 0.7, n))
    mid_stage = np.where(rng.random(n) < 0.6, 1, 2)
    currency = _REGION_BOOK_CURRENCY[region]
    rate = w.usd_per_unit(currency, created)
    amount = usd / rate
    amount = np.where(_WHOLE_UNIT_CURRENCIES[currency], np.round(amount, -2), np.round(amount, -1))
    final_amount = np.where(won, np.round(amount * rng.uniform(0.85, 1.05, n), 0), amount)
    owner_pool = w.employees_of("Sales")
    owner = np.where(rng.random(n) < 0.05, -1, owner_pool[rng.integers(0, owner_pool.size, n)] + 1)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    w.records["opportunities"] = _Records(
        {
            "opportunity_id": _ids("OPP-", np.arange(1, n + 1), 6),
            "account_id": _ids("ACC-", account + 1, 6),
            "owner_id": _ids("EMP-", owner, 5),
            "created_at": _ts(created),
            "currency": _pick(CURRENCIES, currency),
        },
        [
            (
                created,
                {
                    "stage": _pick(STAGES, np.zeros(n, int)),
                    "amount": _scaled(amount, 2),
                    "closed_at": no_ts,
                },
            ),
            (
                mid,
                {
                    "stage": _pick(STAGES, mid_stage),
                    "amount": _scaled(amount, 2),
                    "closed_at": no_ts,
                },
            ),
            (
                np.where(is_closed, closed, np.datetime64("NaT", "s")),
                {
                    "stage": _pick(STAGES, np.where(won, 3, 4)),
                    "amount": _scaled(final_amount, 2),
                    "closed_at": _ts(closed),
                },
            ),
        ],
    )


def _order_intensity(cal: _Calendar, days: np.ndarray) -> np.ndarray:
    """Expected orders per region, channel and day, up to a constant (no noise)."""
    years = cal.years(days)
    season = np.tile(_season(days), (len(REGIONS), 1))
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    season[1, month == 7] *= 0.85  # EMEA's August holidays
    season[2, month == 1] *= 0.90  # APAC's lunar new year
    return (
        _REGION_SHARE[:, None, None]
        * ORDER_CHANNEL_SHARE[:, :, None]
        * np.exp(
            _REGION_GROWTH[:, None, None] * years + _ORDER_CHANNEL_GROWTH[None, :, None] * years
        )
        * season[:, None, :]
        * _ORDER_CHANNEL_WEEK[:, _weekday(days)][None, :, :]
    )


def _gen_orders(w: _World) -> None:
    rng = w.rng("orders")
    cal = w.cal
    days = cal.days
    base = _order_intensity(cal, days)
    noise = rng.lognormal(0.0, 0.10, (len(REGIONS), 1, len(days)))
    n = _volume("orders", w.scale)
    cell = _spread(rng, n, base * noise)
    region, channel, day = np.unravel_index(cell, base.shape)
    hour = np.where(channel == 0, 14.0, 11.5)
    sd = np.where(channel == 0, 4.5, 2.5)
    local = np.clip(rng.normal(hour, sd), 0.0, 23.99)
    seconds = ((local - _REGION_TZ[region]) % 24.0) * _HOUR + rng.uniform(0, 59, n)
    ordered = _at(days[day], seconds)
    order = np.lexsort((cell, ordered.astype(np.int64)))
    region, channel, ordered = region[order], channel[order], ordered[order]

    account = _pick_accounts(w, rng, ordered, region)
    segment = w.acc_segment[account]
    # A few orders name accounts the CRM does not know (yet): valid orphans.
    orphan = rng.random(n) < 0.002
    account_num = np.where(orphan, 900_000 + rng.integers(0, 99_999, n), account + 1)
    u = rng.random(n)
    cum = np.cumsum(_REGION_CURRENCY_MIX, axis=1)[region]
    currency = (u[:, None] > cum).sum(axis=1)
    reps = w.employees_of("Sales")
    rep = np.where(channel == 0, -1, reps[rng.integers(0, reps.size, n)] + 1)
    rep = np.where((channel > 0) & (rng.random(n) < 0.04), -1, rep)

    completion_days = rng.lognormal(
        np.log(np.array([1.4, 2.8, 3.8])[channel] * np.array([1.0, 1.0, 1.15, 1.3])[region]), 0.5
    )
    cancelled = rng.random(n) < np.array([0.035, 0.02, 0.03])[channel]
    done = ordered + _seconds(
        np.where(cancelled, rng.uniform(0.5, 40, n) * _HOUR, completion_days * _DAY)
    )
    fulfilled = np.where(~cancelled & (done < cal.cutoff), done, np.datetime64("NaT", "s"))
    returned = ~cancelled & (rng.random(n) < 0.02)
    returned_at = fulfilled + _seconds(rng.uniform(3, 30, n) * _DAY)
    returned_at = np.where(returned, returned_at, np.datetime64("NaT", "s"))
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    w.records["orders"] = _Records(
        {
            "order_id": _ids("ORD-", np.arange(1, n + 1), 8),
            "account_id": _ids("ACC-", account_num, 6),
            "ordered_at": _ts(ordered),
            "channel": _pick(ORDER_CHANNELS, channel),
            "region": _pick(REGIONS, region),
            "sales_rep_id": _ids("EMP-", rep, 5),
            "currency": _pick(CURRENCIES, currency),
        },
        [
            (ordered, {"status": _pick(("placed",), np.zeros(n, int)), "fulfilled_at": no_ts}),
            (
                np.where(cancelled, done, fulfilled),
                {
                    "status": _pick(("fulfilled", "cancelled"), cancelled.astype(int)),
                    "fulfilled_at": _ts(fulfilled),
                },
            ),
            (
                returned_at,
                {"status": _pick(("returned",), np.zeros(n, int)), "fulfilled_at": _ts(fulfilled)},
            ),
        ],
        extras={"source_system": _pick(("webshop", "erp", "edi"), channel)},
    )

    # --- lines
    lines_per = np.minimum(1 + rng.poisson(2.0, n), 12)
    line_order = np.repeat(np.arange(n), lines_per)
    m = line_order.size
    line_number = np.arange(m) - np.repeat(np.cumsum(lines_per) - lines_per, lines_per) + 1
    popularity = 1.0 / np.arange(1, len(w.product_cost) + 1) ** 0.8
    popularity = rng.permutation(popularity) / popularity.sum()
    product = rng.choice(len(w.product_cost), m, p=popularity)
    qty_mean = np.array([c[4] for c in _CATEGORIES])[w.product_category[product]]
    boost = _SEGMENT_QUANTITY[segment[line_order]] * np.where(channel[line_order] == 1, 1.4, 1.0)
    quantity = 1 + rng.poisson(qty_mean * boost)
    list_usd = w.product_price[product]
    line_cur = currency[line_order]
    price_local = (
        list_usd
        * _REGION_PRICE_INDEX[region[line_order]]
        * rng.normal(1.0, 0.015, m)
        / w.usd_per_unit(line_cur, ordered[line_order])
    )
    price_local = np.where(
        _WHOLE_UNIT_CURRENCIES[line_cur], np.round(price_local), np.round(price_local, 2)
    )
    gross = quantity * price_local
    r = rng.random(m)
    discounted = r < np.where(channel[line_order] == 1, 0.5, 0.3)
    discount = np.where(discounted, np.round(gross * rng.uniform(0.03, 0.2, m), 2), 0.0)
    discount = np.where(_WHOLE_UNIT_CURRENCIES[line_cur], np.round(discount), discount)
    no_discount = ~discounted & (rng.random(m) < 0.08)  # null, which means 0
    unknown = rng.random(m) < 0.003  # product ids the catalog does not know
    product_num = np.where(unknown, 9000 + rng.integers(1, 999, m), product + 1)

    # Corrections in the daily window: a line's discount is fixed the next day and the
    # line delivered again (order lines have no updated_at: the later delivery wins).
    t_line = ordered[line_order]
    fix = (t_line >= cal.bounds[cal.daily_from]) & discounted & (rng.random(m) < 0.02)
    fixed_discount = np.round(discount * 1.5, 2)
    w.records["order_lines"] = _Records(
        {
            "order_id": _ids("ORD-", line_order + 1, 8),
            "line_number": _int(line_number),
            "product_id": _ids("PRD-", product_num, 4),
            "quantity": _int(quantity),
            "unit_price": _scaled(price_local, 2),
        },
        [
            (
                np.where(fix, t_line, np.datetime64("NaT", "s")),
                {"discount_amount": _scaled(discount, 2, no_discount)},
            ),
            (
                np.where(fix, t_line + np.timedelta64(_DAY, "s"), t_line),
                {
                    "discount_amount": _scaled(
                        np.where(fix, fixed_discount, discount), 2, no_discount
                    )
                },
            ),
        ],
    )

    # Revenue actually booked (in USD), which the plan is compared against.
    status_ok = ~cancelled & ~(returned & ~np.isnat(returned_at) & (returned_at < cal.cutoff))
    net = gross - discount
    usd = net * w.usd_per_unit(line_cur, t_line)
    order_usd = np.bincount(line_order, weights=usd, minlength=n)
    w.booked = (ordered, region, order_usd * status_ok)

    _gen_shipments(w, rng, region, fulfilled)


def _gen_shipments(
    w: _World, rng: np.random.Generator, region: np.ndarray, fulfilled: np.ndarray
) -> None:
    """A shipment per fulfilled order, sent when the order is fulfilled."""
    cal = w.cal
    shipped_orders = np.flatnonzero(~np.isnat(fulfilled))
    # Some orders ship in two parcels, the second a little later.
    split = rng.random(shipped_orders.size) < 0.06
    order_idx = np.concatenate([shipped_orders, shipped_orders[split]])
    shipped = np.concatenate(
        [
            fulfilled[shipped_orders],
            fulfilled[shipped_orders[split]] + _seconds(rng.uniform(2, 36, split.sum()) * _HOUR),
        ]
    )
    keep = shipped < cal.cutoff
    order_idx, shipped = order_idx[keep], shipped[keep]
    order = np.lexsort((order_idx, shipped.astype(np.int64)))
    order_idx, shipped = order_idx[order], shipped[order]
    n = order_idx.size
    reg = region[order_idx]
    cum = np.cumsum(_REGION_CARRIER_MIX, axis=1)[reg]
    carrier = (rng.random(n)[:, None] > cum).sum(axis=1)
    promise = _REGION_PROMISE_DAYS[reg] * _DAY
    # Two carriers run into capacity trouble in the last three months: late deliveries.
    slow = 1.0 + 0.75 * _CARRIER_TROUBLE[carrier] * cal.trouble(shipped)
    transit = promise * _CARRIER_TRANSIT[carrier] * slow * rng.lognormal(0.0, 0.3, n)
    delivered = shipped + _seconds(transit)
    delivered = np.where(delivered < cal.cutoff, delivered, np.datetime64("NaT", "s"))
    promised = shipped + _seconds(promise)
    w.records["shipments"] = _Records(
        {
            "shipment_id": _ids("SHP-", np.arange(1, n + 1), 8),
            "order_id": _ids("ORD-", order_idx + 1, 8),
            "carrier": _pick(_CARRIERS, carrier),
            "shipped_at": _ts(shipped),
            "promised_at": _ts(promised),
        },
        [
            (shipped, {"delivered_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (delivered, {"delivered_at": _ts(delivered)}),
        ],
    )


def _gen_targets(w: _World) -> None:
    """The revenue plan: the expected seasonal curve, a little too optimistic."""
    cal = w.cal
    end_month = cal.end.astype("datetime64[M]")
    months = np.arange(cal.start.astype("datetime64[M]"), end_month + PLAN_MONTHS_AHEAD + 1)
    all_days = np.arange(
        months[0].astype("datetime64[D]"), (months[-1] + 1).astype("datetime64[D]")
    )
    expected = _order_intensity(cal, all_days).sum(axis=1)  # [region, day]
    month_of = all_days.astype("datetime64[M]").astype(np.int64) - months[0].astype(np.int64)
    expected_month = np.stack(
        [np.bincount(month_of, weights=e, minlength=months.size) for e in expected]
    )
    history = all_days <= cal.end
    _, region, usd = w.booked
    actual = np.bincount(region, weights=usd, minlength=len(REGIONS))
    per_unit = actual / expected[:, history].sum(axis=1)
    # Plans assume a bit more growth than the market gives, and some regions aim higher.
    years = (months - months[0]).astype(np.int64) / 12.0 - 1.0
    premium = np.array([0.015, 0.035, -0.03, 0.05])
    plan = expected_month * per_unit[:, None] * np.exp(premium[:, None] + 0.035 * years[None, :])
    plan = np.round(plan, -2)
    r, m = np.meshgrid(np.arange(len(REGIONS)), np.arange(months.size), indexing="ij")
    r, m = r.ravel(), m.ravel()
    order = np.lexsort((r, m))
    r, m = r[order], m[order]
    w.records["sales_targets"] = _Records(
        {
            "target_month": _date(months[m].astype("datetime64[D]")),
            "region": _pick(REGIONS, r),
            "revenue_target": _scaled(plan[r, m], 2),
        },
        [(np.full(r.size, cal.start.astype("datetime64[s]")), {})],
    )


def _gen_tickets(w: _World) -> None:
    rng = w.rng("tickets")
    cal = w.cal
    days = cal.days
    n = _volume("tickets", w.scale)
    weekday = _weekday(days) < 5
    # The phone line is closed at weekends (a few calls reach the on-call number).
    weekend = np.where((np.arange(4) == 1)[:, None], 0.06, 0.3)
    weights = (
        np.exp(0.2 * cal.years(days))[None, :]
        * _TICKET_CHANNEL_SHARE[:, None]
        * np.where(weekday[None, :], 1.0, weekend)
    )
    cell = _spread(rng, n, weights)
    channel, day = np.unravel_index(cell, weights.shape)
    acc_region_guess = rng.choice(len(REGIONS), n, p=_REGION_SHARE)
    created = _at(days[day], _local_hours(rng, np.full(n, 12.0), 3.0, _REGION_TZ[acc_region_guess]))
    order = np.lexsort((cell, created.astype(np.int64)))
    channel, created, acc_region_guess = channel[order], created[order], acc_region_guess[order]
    priority = rng.choice(4, n, p=_PRIORITY_SHARE)
    account = _pick_accounts(w, rng, created, acc_region_guess)
    account_num = np.where(rng.random(n) < 0.08, -1, account + 1)
    agents = w.employees_of("Support")
    assignee = np.where(rng.random(n) < 0.03, -1, agents[rng.integers(0, agents.size, n)] + 1)

    trouble = cal.trouble(created)
    # Fewer agents in the last months: first responses and resolutions take longer.
    response_h = rng.lognormal(
        np.log(
            _FIRST_RESPONSE_MEDIAN_H[priority]
            * _TICKET_CHANNEL_RESPONSE[channel]
            * (1 + 1.4 * trouble)
        ),
        0.6,
    )
    resolve_h = rng.lognormal(np.log(_RESOLUTION_MEDIAN_H[priority] * (1 + 0.45 * trouble)), 0.7)
    first_response = created + _seconds(response_h * _HOUR + 60)
    resolved = first_response + _seconds(resolve_h * _HOUR)
    survey = resolved + _seconds(rng.uniform(1, 72, n) * _HOUR)
    answers = rng.random(n) < 0.4
    slowness = np.log((resolved - created).astype(np.int64) / _HOUR / _SLA_RESOLUTION_H[priority])
    score = np.clip(
        np.round(rng.normal(4.3 - 0.7 * np.maximum(slowness + 0.8, 0), 0.8)), 1, 5
    ).astype(int)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    no_score = _int(np.zeros(n), np.ones(n, bool))
    w.records["tickets"] = _Records(
        {
            "ticket_id": _ids("TCK-", np.arange(1, n + 1), 7),
            "account_id": _ids("ACC-", account_num, 6),
            "created_at": _ts(created),
            "priority": _pick(PRIORITIES, priority),
            "channel": _pick(TICKET_CHANNELS, channel),
            "assignee_id": _ids("EMP-", assignee, 5),
        },
        [
            (
                created,
                {"first_response_at": no_ts, "resolved_at": no_ts, "satisfaction_score": no_score},
            ),
            (
                first_response,
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": no_ts,
                    "satisfaction_score": no_score,
                },
            ),
            (
                resolved,
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": _ts(resolved),
                    "satisfaction_score": no_score,
                },
            ),
            (
                np.where(answers, survey, np.datetime64("NaT", "s")),
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": _ts(resolved),
                    "satisfaction_score": _int(score),
                },
            ),
        ],
    )


def _gen_production(w: _World) -> None:
    rng = w.rng("production_runs")
    cal = w.cal
    days = cal.days
    lam = _PLANT_RUNS_PER_DAY[:, None] * w.scale * _PLANT_WEEK[:, _weekday(days)]
    counts = rng.poisson(lam)
    plant, day = np.nonzero(np.ones_like(counts, bool))
    plant, day = np.repeat(plant, counts.ravel()), np.repeat(day, counts.ravel())
    n = plant.size
    shift = rng.choice([6.0, 14.0, 22.0], n, p=[0.45, 0.35, 0.2])
    start_local = shift + rng.normal(0.3, 0.25, n)
    started = days[day].astype("datetime64[s]") + _signed_seconds(
        (start_local - _PLANT_TZ[plant]) * _HOUR
    )
    hours = rng.uniform(3.0, 8.0, n)
    ended = started + _seconds(hours * _HOUR)
    # Runs still going at the cut-off are not delivered yet.
    keep = (ended < cal.cutoff) & (ended >= cal.start.astype("datetime64[s]"))
    plant, started, ended, hours = plant[keep], started[keep], ended[keep], hours[keep]
    order = np.lexsort((plant, ended.astype(np.int64)))
    plant, started, ended, hours = plant[order], started[order], ended[order], hours[order]
    n = plant.size
    per_hour = 110 * np.array([1.0, 0.8, 1.2])[plant]
    produced = np.maximum(1, rng.normal(per_hour * hours, 60)).astype(np.int64)
    rate = _PLANT_DEFECT_RATE[plant] * (1 + _PLANT_DEFECT_TROUBLE[plant] * cal.trouble(ended))
    rate = rate * rng.lognormal(0.0, 0.35, n)
    defective = rng.binomial(produced, np.minimum(rate, 0.5))
    # Most defects are found at the end of the run, the rest at inspection a day later.
    found_first = rng.binomial(defective, 0.8)
    inspected = ended + _seconds(rng.uniform(4, 48, n) * _HOUR)
    makes = np.flatnonzero(np.isin(w.product_category, [0, 4]))
    product = np.where(rng.random(n) < 0.04, -1, makes[rng.integers(0, makes.size, n)] + 1)
    w.records["production_runs"] = _Records(
        {
            "run_id": _ids("RUN-", np.arange(1, n + 1), 7),
            "plant": _pick(_PLANTS, plant),
            "product_id": _ids("PRD-", product, 4),
            "started_at": _ts(started),
            "ended_at": _ts(ended),
            "units_produced": _int(produced),
        },
        [
            (ended, {"units_defective": _int(found_first)}),
            (inspected, {"units_defective": _int(defective)}),
        ],
    )


def _gen_incidents(w: _World) -> None:
    rng = w.rng("incidents")
    cal = w.cal
    start_s = cal.start.astype("datetime64[s]")
    span = (cal.cutoff - start_s).astype(np.int64)
    months = span / (30.44 * _DAY)
    services = np.arange(len(_SERVICES))
    # Outages depend on the services, not on the data volume: the same at any scale.
    outages = rng.poisson(np.array([s[4] for s in _SERVICES]) * months)
    svc = np.repeat(services, outages)
    started = start_s + _seconds(rng.random(svc.size) * span)
    minutes = rng.lognormal(np.log(np.array([s[5] for s in _SERVICES])[svc]), 0.8)
    is_outage = np.ones(svc.size, bool)
    tier = np.array([int(s[2][-1]) for s in _SERVICES])
    severity = np.where(tier[svc] == 1, rng.choice([0, 1], svc.size, p=[0.6, 0.4]), 1)
    # Some outages overlap a second one on the same service (a cascading failure):
    # downtime counts the union, once.
    overlap = rng.random(svc.size) < 0.08
    o_svc = svc[overlap]
    o_start = started[overlap] + _seconds(minutes[overlap] * 60 * rng.uniform(0.1, 0.8, o_svc.size))
    o_minutes = minutes[overlap] * rng.uniform(0.3, 1.5, o_svc.size)
    # Degradations that are not outages grow with the business.
    n_minor = max(6, round(30 * w.scale * months))
    m_svc = rng.choice(
        len(_SERVICES) + 1, n_minor, p=np.r_[np.full(len(_SERVICES), 0.99 / len(_SERVICES)), 0.01]
    )
    m_svc[:2] = len(_SERVICES)  # at least a couple of orphans at any scale
    m_start = start_s + _seconds(rng.random(n_minor) * span)
    m_minutes = rng.lognormal(np.log(90.0), 1.0, n_minor)
    # One outage is still going on at the end.
    ongoing_svc = np.array([3])
    ongoing_start = np.array([cal.cutoff - np.timedelta64(150 * 60 + 17, "s")])

    svc_all = np.concatenate([svc, o_svc, m_svc, ongoing_svc])
    started_all = np.concatenate([started, o_start, m_start, ongoing_start])
    minutes_all = np.concatenate([minutes, o_minutes, m_minutes, [np.inf]])
    outage_all = np.concatenate(
        [is_outage, np.ones(o_svc.size, bool), np.zeros(n_minor, bool), [True]]
    )
    severity_all = np.concatenate([severity, np.full(o_svc.size, 1), np.full(n_minor, 2), [1]])
    order = np.lexsort((svc_all, started_all.astype(np.int64)))
    svc_all, started_all, minutes_all = svc_all[order], started_all[order], minutes_all[order]
    outage_all, severity_all = outage_all[order], severity_all[order]
    resolved = started_all + _seconds(np.where(np.isinf(minutes_all), 0, minutes_all * 60 + 60))
    resolved = np.where(
        np.isinf(minutes_all) | (resolved >= cal.cutoff), np.datetime64("NaT", "s"), resolved
    )
    ids = [s[0] for s in _SERVICES] + [_RETIRED_SERVICE]
    n = svc_all.size
    w.records["incidents"] = _Records(
        {
            "incident_id": _ids("INC-", np.arange(1, n + 1), 5),
            "service_id": _pick(ids, svc_all),
            "severity": _pick(SEVERITIES, severity_all),
            "is_outage": pa.array(outage_all, pa.bool_()),
            "started_at": _ts(started_all),
        },
        [
            (started_all, {"resolved_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (resolved, {"resolved_at": _ts(resolved)}),
        ],
    )


# --- serialisation -------------------------------------------------------------------------


def _format(entity: Entity, period: int, cal: _Calendar) -> str:
    kind = _FORMAT.get(entity.name, "csv")
    if kind == "alternate":
        daily = period - cal.daily_from
        return "parquet" if daily >= 0 and daily % 2 == 1 else "csv"
    return kind


def _string_columns(entity: Entity, fmt: str) -> set[str]:
    """Columns that a file of this format writes as text (where any text can go)."""
    if fmt == "csv":
        return {c.name for c in entity.columns}
    out = {c.name for c in entity.columns if c.type in ("text", "enum")}
    if _PARQUET_TS.get(entity.name) == "string":
        out |= {c.name for c in entity.columns if c.type == "ts"}
    if _PARQUET_DECIMAL.get(entity.name, "string") == "string":
        out |= {c.name for c in entity.columns if c.type == "decimal"}
    return out


def _fmt_decimal(arr: pa.Array, places: int) -> pa.Array:
    values = arr.to_numpy(zero_copy_only=False)
    null = arr.is_null().to_numpy(zero_copy_only=False)
    values = np.where(null, 0, values).astype(np.int64)
    unit = 10**places
    whole = np.abs(values) // unit
    sign = pa.array(np.where(values < 0, "-", ""))
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(whole), pa.string()), "")
    if places:
        frac = pc.utf8_lpad(
            pc.cast(pa.array(np.abs(values) % unit), pa.string()), width=places, padding="0"
        )
        text = pc.binary_join_element_wise(text, frac, ".")
    return pc.if_else(pa.array(null), pa.scalar(None, pa.string()), text)


def _fmt_ts(arr: pa.Array, offsets_min: np.ndarray, utc_suffix: str) -> pa.Array:
    """ISO 8601 text; rows with an offset show local time and the offset (same instant)."""
    utc = arr.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    local = utc + offsets_min.astype("timedelta64[m]")
    text = pc.strftime(_ts(local), format="%Y-%m-%dT%H:%M:%S")
    labels = {0: utc_suffix}
    for off in np.unique(offsets_min[offsets_min != 0]).tolist():
        h, m = abs(off) // 60, abs(off) % 60
        labels[off] = f"{'+' if off > 0 else '-'}{h:02d}:{m:02d}"
    keys = sorted(labels)
    suffix = _pick([labels[k] for k in keys], np.searchsorted(keys, offsets_min))
    return pc.binary_join_element_wise(text, suffix, "")


def _fmt_bool(arr: pa.Array, rng: np.random.Generator) -> pa.Array:
    # Mostly true/false; a few rows in the other spellings the contract allows.
    values = arr.to_numpy(zero_copy_only=False)
    style = rng.choice(3, len(arr), p=[0.96, 0.02, 0.02])
    words = np.array([["false", "true"], ["FALSE", "TRUE"], ["0", "1"]])
    text = words[
        style, np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, values).astype(int)
    ]
    return pc.if_else(arr.is_null(), pa.scalar(None, pa.string()), pa.array(text))


def _serialise(entity: Entity, table: pa.Table, fmt: str, rng: np.random.Generator) -> pa.Table:
    """Typed rows to the columns a file of ``fmt`` holds."""
    places = _DECIMAL_PLACES.get(entity.name, {})
    text_cols = _string_columns(entity, fmt)
    n = table.num_rows
    with_offset = rng.random(n) < _OFFSET_SHARE
    offsets = np.where(with_offset, rng.choice(_OFFSETS_MIN, n), 0)
    columns = {}
    for name in table.column_names:
        arr = table.column(name).combine_chunks()
        col = entity.column(name) if name in {c.name for c in entity.columns} else None
        type_ = col.type if col else "text"
        if type_ == "ts":
            if name in text_cols:
                columns[name] = _fmt_ts(arr, offsets, _CSV_UTC_SUFFIX[entity.system])
            elif _PARQUET_TS[entity.name] == "utc":
                columns[name] = arr.cast(pa.timestamp("ms", tz="UTC"))
            else:
                columns[name] = arr.cast(pa.timestamp("us"))
        elif type_ == "decimal":
            if name in text_cols:
                columns[name] = _fmt_decimal(arr, places[name])
            else:
                values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
                columns[name] = pa.array(
                    values / 10 ** places[name],
                    pa.float64(),
                    mask=arr.is_null().to_numpy(zero_copy_only=False),
                )
        elif type_ == "boolean":
            columns[name] = _fmt_bool(arr, rng) if name in text_cols else arr
        elif type_ in ("integer", "date") and name in text_cols:
            columns[name] = pc.cast(arr, pa.string())
        else:
            columns[name] = arr
    return pa.table(columns)


def _quote(arr: pa.Array) -> pa.Array:
    """RFC 4180: quote a field holding a quote, comma, line break or edge spaces."""
    needs = pc.fill_null(pc.match_substring_regex(arr, r'[",\r\n]|^\s|\s$'), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(needs, quoted, arr), "")


def _csv_bytes(table: pa.Table, plain: set[str]) -> bytes:
    """The file's bytes; ``plain`` columns hold nothing that needs quoting."""
    header = ",".join(table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode("utf-8")
    columns = [
        pc.fill_null(col, "") if name in plain else _quote(col)
        for name, col in zip(
            table.column_names, (c.combine_chunks() for c in table.columns), strict=True
        )
    ]
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    offsets = pa.array([0, len(lines)], pa.int32())
    body = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "\n")[0].as_py()
    return (header + body + "\n").encode("utf-8")


# --- invalid rows ---------------------------------------------------------------------------

_BAD_TIMESTAMPS = ("not-a-date", "2026-02-30T10:00:00Z", "31/10/2026 14:00", "yesterday")
_BAD_DATES = ("not-a-date", "2026-02-30", "31.10.2026")
_BAD_NUMBERS = ("12,5", "n/a", "1.2.3", "ten")
_BAD_BOOLEANS = ("yes", "maybe")
_BAD_ENUM_VALUES = ("gold", "unknown", "n/a")


def _invalid_kinds(entity: Entity, text_cols: set[str]) -> dict[str, list[tuple]]:
    """Every way a row of this entity can be made invalid, by kind."""
    kinds: dict[str, list[tuple]] = {}
    cols = entity.columns

    def add(kind: str, *variant) -> None:
        kinds.setdefault(kind, []).append(variant)

    for c in cols:
        if c.presence == "key":
            add("null primary key", c.name)
        elif c.presence == "req":
            add("null required column", c.name)
        if c.name in text_cols:
            if c.type == "ts":
                add("unparseable timestamp", c.name, _BAD_TIMESTAMPS)
            elif c.type == "date":
                add("unparseable date", c.name, _BAD_DATES)
            elif c.type in ("decimal", "integer"):
                add("unparseable number", c.name, _BAD_NUMBERS)
            elif c.type == "boolean":
                add("unparseable boolean", c.name, _BAD_BOOLEANS)
        if c.type == "enum":
            # Values that no reading of the list could accept (not merely another case).
            add("value outside enum", c.name, _BAD_ENUM_VALUES)
    for rule in entity.rules:
        add(f"rule: {rule.name}", rule)
    return kinds


def _column_np(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = table.column(name).combine_chunks()
    null = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type):
        values = arr.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False).astype("datetime64[s]")
    elif pa.types.is_date32(arr.type):
        values = arr.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    else:
        values = arr.to_numpy(zero_copy_only=False)
    return values, null


def _set(table: pa.Table, name: str, rows: np.ndarray, values) -> pa.Table:
    """``table`` with ``name`` replaced at ``rows`` (ascending) by ``values`` (None: null)."""
    arr = table.column(name).combine_chunks()
    mask = np.zeros(table.num_rows, bool)
    mask[rows] = True
    if values is None:
        replacement = pa.nulls(rows.size, arr.type)
    elif pa.types.is_timestamp(arr.type):
        replacement = pa.array(np.asarray(values).astype("datetime64[s]"), pa.timestamp("s")).cast(
            arr.type
        )
    elif pa.types.is_date32(arr.type):
        replacement = pa.array(np.asarray(values).astype("datetime64[D]"), pa.date32())
    else:
        replacement = pa.array(values, arr.type)
    new = pc.replace_with_mask(arr, pa.array(mask), replacement)
    return table.set_column(table.column_names.index(name), name, new)


def _rule_break(
    table: pa.Table, rule, rows_pool: np.ndarray, count: int, rng
) -> tuple[pa.Table, np.ndarray]:
    """Break ``rule`` in ``count`` rows chosen from ``rows_pool`` that can break it."""
    kind, args = rule.kind, rule.columns
    if kind == "non_negative":
        (col,) = args
        values, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, -np.abs(values[rows].astype(np.int64)) - 100), rows
    if kind == "positive":
        (col,) = args
        _, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, rng.choice([0, -1], rows.size)), rows
    if kind == "not_before":
        later, earlier = args
        values, null = _column_np(table, earlier)
        _, later_null = _column_np(table, later)
        ok = ~null[rows_pool] & ~later_null[rows_pool]
        rows = _choose(rng, rows_pool[ok], count)
        new = values[rows] - _seconds(rng.uniform(600, 3 * _DAY, rows.size))
        return _set(table, later, rows, new), rows
    if kind == "between":
        col, hi = args[0], int(args[2])
        _, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, np.full(rows.size, hi + 2)), rows
    if kind == "at_most":
        col, bound = args
        values, null = _column_np(table, bound)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(
            table, col, rows, values[rows].astype(np.int64) + rng.integers(1, 6, rows.size)
        ), rows
    if kind == "present_when":
        col, required, *closed = args
        values, null = _column_np(table, col)
        _, req_null = _column_np(table, required)
        ok = np.isin(values[rows_pool].astype(object), closed) & ~req_null[rows_pool]
        rows = _choose(rng, rows_pool[ok], count)
        return _set(table, required, rows, None), rows
    if kind == "first_of_month":
        (col,) = args
        values, null = _column_np(table, col)
        rows = _choose(rng, rows_pool[~null[rows_pool]], count)
        return _set(table, col, rows, values[rows] + np.timedelta64(14, "D")), rows
    # A rule of another kind (availability_target within (0, 1]) is not broken.
    return table, np.array([], np.int64)


def _choose(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    return np.sort(rng.choice(pool, min(count, pool.size), replace=False))


def _inject(
    entity: Entity,
    table: pa.Table,
    fmt: str,
    rng: np.random.Generator,
    copies: int | None,
    at_least: int = 0,
) -> tuple[pa.Table, dict[str, list[tuple[np.ndarray, str]]], Counter]:
    """Make a few rows invalid; returns the typed table, text edits to apply after
    serialisation (column → [(rows, bad texts)]) and the count per kind."""
    n = table.num_rows
    counts: Counter = Counter()
    text_edits: dict[str, list] = {}
    if copies is not None:
        k = min(copies, n)
        if k:
            # Corrupted copies, so that the valid original stays in the data.
            source = _choose(rng, np.arange(n), k)
            table = pa.concat_tables([table, table.take(pa.array(source))])
            pool = np.arange(n, n + k)
        else:
            return table, text_edits, counts
    else:
        k = min(max(int(rng.binomial(n, _INVALID_RATE)), at_least), int(n * _INVALID_CAP))
        if not k:
            return table, text_edits, counts
        pool = np.arange(n)
    kinds = _invalid_kinds(entity, _string_columns(entity, fmt))
    names = sorted(kinds)
    per_kind = Counter(rng.choice(len(names), k).tolist())
    used = np.zeros(table.num_rows, bool)
    for i in sorted(per_kind):
        kind, wanted = names[i], per_kind[i]
        free = pool[~used[pool]]
        variant = kinds[kind][rng.integers(len(kinds[kind]))]
        if kind.startswith("rule: "):
            table, rows = _rule_break(table, variant[0], free, wanted, rng)
        else:
            rows = _choose(rng, free, wanted)
            if kind in ("null primary key", "null required column"):
                table = _set(table, variant[0], rows, None)
            else:
                bad = rng.choice(variant[1], rows.size)
                text_edits.setdefault(variant[0], []).append((rows, bad))
        used[rows] = True
        counts[kind] += rows.size
    return table, text_edits, counts


def _apply_text_edits(table: pa.Table, edits, enum_cols: Sequence[str], rng) -> pa.Table:
    n = table.num_rows
    for name in enum_cols:
        # A few enum values arrive with spaces around them: valid once trimmed.
        rows = np.flatnonzero(rng.random(n) < _PADDED_ENUM_RATE)
        if rows.size:
            arr = table.column(name).combine_chunks()
            current = arr.take(pa.array(rows))
            padded = pc.binary_join_element_wise(
                " ", current, rng.choice([" ", ""], rows.size).tolist(), ""
            )
            mask = np.zeros(n, bool)
            mask[rows] = True
            new = pc.replace_with_mask(arr, pa.array(mask), padded)
            table = table.set_column(table.column_names.index(name), name, new)
    for name, items in edits.items():
        for rows, bad in items:
            table = _set(table, name, rows, pa.array(bad.tolist(), pa.string()))
    return table


# --- writing ----------------------------------------------------------------------------------


def _write_entity(
    entity: Entity, rec: _Records, w: _World, out_dir: Path, summary: GenerationSummary
) -> None:
    cal = w.cal
    table, periods = _emit(entity, rec, cal)
    bounds = np.searchsorted(periods, np.arange(cal.periods + 1))
    key = entity.qualified_name
    folder = out_dir / entity.system / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    # The folder holds one data set: deliveries of an earlier run (another end date, say)
    # would otherwise be applied along with this one's.
    for stale in folder.iterdir():
        if stale.is_file() and stale.suffix in (".csv", ".parquet"):
            stale.unlink()
    columns = list(_COLUMN_ORDER.get(entity.name, [c.name for c in entity.columns]))
    columns += list(rec.extras)
    enum_cols = [c.name for c in entity.columns if c.type == "enum"]
    # Formatted numbers, dates and timestamps never need CSV quoting; injected text might.
    plain = {c.name for c in entity.columns if c.type not in ("text", "enum")}
    clean = entity.name in _INVALID_NONE
    copies_left = _INVALID_COPIES.get(entity.name)
    # Every entity with invalid rows gets at least one, in its biggest file, whatever the
    # scale and the luck of the draw.
    biggest = int(np.argmax(np.diff(bounds)))
    rows_written = invalid = 0
    kinds: Counter = Counter()
    previous: pa.Table | None = None
    for p in range(cal.periods):
        fresh = table.slice(bounds[p], bounds[p + 1] - bounds[p])
        rng = _rng(w.seed, f"deliver/{key}/{p}")
        daily = p >= cal.daily_from
        part = fresh
        if daily and previous is not None and previous.num_rows:
            # Export jobs overlap: a few of yesterday's rows come again, first in the file,
            # so that today's newer versions of them still come later.
            again = np.flatnonzero(rng.random(previous.num_rows) < _OVERLAP_RATE)
            if again.size:
                part = pa.concat_tables([previous.take(pa.array(again)), fresh])
        previous = fresh if daily else None
        # A daily export job writes its file even on a quiet day; reference data is only
        # delivered when it changes.
        if part.num_rows == 0 and not (daily and entity.name not in _REFERENCE):
            continue
        fmt = _format(entity, p, cal)
        if clean:
            typed, edits, counted = part, {}, Counter()
        else:
            copies = None
            if copies_left is not None:
                copies, copies_left = copies_left, 0
            at_least = 1 if p == biggest else 0
            typed, edits, counted = _inject(entity, part, fmt, rng, copies, at_least)
        out = _serialise(entity, typed, fmt, rng)
        out = _apply_text_edits(out, edits, () if clean else enum_cols, rng).select(columns)
        path = folder / f"{cal.names[p]}.{fmt}"
        if fmt == "csv":
            path.write_bytes(_csv_bytes(out, plain - set(edits)))
        else:
            pq.write_table(out, path, compression="zstd")
        summary.files.append(path.relative_to(out_dir).as_posix())
        rows_written += out.num_rows
        invalid += sum(counted.values())
        kinds.update(counted)
    summary.rows[key] = rows_written
    summary.records[key] = rec.count
    summary.invalid_rows[key] = invalid
    for kind, count in kinds.items():
        summary.invalid_kinds[kind] = summary.invalid_kinds.get(kind, 0) + count


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
