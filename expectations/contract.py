"""The landing contract as data: systems, entities, columns, keys, dates and row rules.

Everything that reads, validates or generates landing data derives from ``ENTITIES``
so the contract is written down once; ``docs/landing-contract.md`` is rendered from it
(``python -m expectations.contract_doc write``). It is a library: it imports nothing of the
project, and the Dagster code, the quality suites and the demo generator all read it.
Rules are SQL boolean expressions over the *typed* columns; a row breaks a rule
when the expression is false (a null result means a compared value is absent and the
rule does not apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column types of the contract and the DuckDB type each one is stored as.
SQL_TYPES = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "ts": "TIMESTAMP",  # always UTC, stored without an offset
    "date": "DATE",
    "decimal": "DECIMAL(18,4)",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
}

# How a delivered value of each type is written (the extract types them so; a value
# that does not read as its type quarantines the row).
TYPE_FORMATS = {
    "text": "Any text.",
    "enum": "One of the column's allowed values, exactly (case matters; surrounding "
    "spaces are ignored).",
    "ts": "ISO 8601: `YYYY-MM-DD`, optionally with a time `hh:mm[:ss[.fff]]` after `T` or "
    "a space and an offset (`Z`, `+hh`, `+hh:mm`, `+hhmm`); a time without an offset is "
    "UTC. Stored in UTC without an offset.",
    "date": "`YYYY-MM-DD` (a timestamp at midnight UTC reads as its date).",
    "decimal": "A number with an optional sign, a decimal point and an exponent "
    "(`12.5`, `-3`, `1e3`); stored with four decimal places.",
    "integer": "A whole number with an optional sign (`42`, `42.0`).",
    "boolean": "`true`, `false`, `1` or `0`, in any case.",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    # "key": part of the primary key; "req": required; "opt": nullable.
    presence: str = "opt"
    values: tuple[str, ...] = ()  # the allowed values of an enum

    @property
    def must_be_delivered(self) -> bool:
        """A file without this column cannot be read (key and required columns)."""
        return self.presence in ("key", "req")

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Rule:
    """A row rule: its name (the quarantine reason) and its SQL, with the rule's shape.

    ``kind`` and ``columns`` say what the SQL says, for readers that must not parse it
    (the demo generator breaks rules by kind, the contract's document words them):

    - ``not_before`` (later, earlier): ``later >= earlier``;
    - ``non_negative`` (column): ``column >= 0``; ``positive`` (column): ``column > 0``;
    - ``between`` (column, low, high): ``column between low and high``;
    - ``at_most`` (column, bound): ``column <= bound``;
    - ``present_when`` (column, required, *values): ``required`` is not null when
      ``column`` is one of ``values``;
    - ``first_of_month`` (column): the date is the first day of its month;
    - ``in_unit_interval`` (column): ``0 < column <= 1``.
    """

    name: str
    sql: str
    kind: str = ""
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    """``column`` holds a ``parent_column`` of the entity ``parent`` (``system.entity``)."""

    column: str
    parent: str
    parent_column: str


@dataclass(frozen=True)
class Entity:
    system: str
    name: str
    description: str
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    # The date that places a record in a KPI period (None: reference data, placed at the
    # as-of date), and the later event dates KPIs count a record at.
    anchor: str | None = None
    events: tuple[str, ...] = ()
    # An entity without dates of its own that its parent's dates place (order lines).
    dated_by: str | None = None
    # The references the quality suites check (a value without its parent is an orphan).
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.presence == "key")

    @property
    def has_updated_at(self) -> bool:
        return any(c.name == "updated_at" for c in self.columns)

    @property
    def qualified_name(self) -> str:
        return f"{self.system}.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _k(name: str, type_: str = "text", values: tuple[str, ...] = ()) -> Column:
    return Column(name, type_, "key", values)


def _r(name: str, type_: str = "text", values: tuple[str, ...] = ()) -> Column:
    return Column(name, type_, "req", values)


def _o(name: str, type_: str = "text", values: tuple[str, ...] = ()) -> Column:
    return Column(name, type_, "opt", values)


SEGMENTS = ("smb", "mid_market", "enterprise")
LEAD_SOURCES = ("web", "referral", "event", "paid_search", "outbound")
LEAD_STATUSES = ("open", "qualified", "converted", "disqualified")
STAGES = ("prospecting", "proposal", "negotiation", "closed_won", "closed_lost")
PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_CHANNELS = ("email", "phone", "chat", "portal")
ORDER_STATUSES = ("placed", "fulfilled", "cancelled", "returned")
ORDER_CHANNELS = ("online", "direct", "partner")
TIERS = ("tier_1", "tier_2", "tier_3")
SEVERITIES = ("sev1", "sev2", "sev3")


def _not_before(later: str, earlier: str) -> Rule:
    return Rule(
        f"{later} before {earlier}", f"{later} >= {earlier}", "not_before", (later, earlier)
    )


def _non_negative(column: str) -> Rule:
    return Rule(f"{column} negative", f"{column} >= 0", "non_negative", (column,))


def _positive(column: str) -> Rule:
    return Rule(f"{column} not positive", f"{column} > 0", "positive", (column,))


def _between(column: str, low: int, high: int) -> Rule:
    return Rule(
        f"{column} outside {low} to {high}",
        f"{column} between {low} and {high}",
        "between",
        (column, str(low), str(high)),
    )


def _at_most(column: str, bound: str) -> Rule:
    return Rule(f"{column} above {bound}", f"{column} <= {bound}", "at_most", (column, bound))


def _present_when(column: str, values: tuple[str, ...], required: str) -> Rule:
    listed = ", ".join(f"'{v}'" for v in values)
    return Rule(
        f"closed {column} without {required}",
        f"{column} not in ({listed}) or {required} is not null",
        "present_when",
        (column, required, *values),
    )


def _first_of_month(column: str) -> Rule:
    return Rule(
        f"{column} not the first day of a month",
        f"extract(day from {column}) = 1",
        "first_of_month",
        (column,),
    )


def _in_unit_interval(column: str) -> Rule:
    return Rule(
        f"{column} outside (0, 1]",
        f"{column} > 0 and {column} <= 1",
        "in_unit_interval",
        (column,),
    )


def _fk(column: str, parent: str, parent_column: str | None = None) -> ForeignKey:
    return ForeignKey(column, parent, parent_column or column)


ENTITIES: tuple[Entity, ...] = (
    # --- crm -------------------------------------------------------------------------
    Entity(
        "crm",
        "accounts",
        "One row per customer account.",
        (
            _k("account_id"),
            _r("account_name"),
            _o("industry"),
            _r("segment", "enum", SEGMENTS),
            _r("region"),
            _o("owner_id"),
            _r("created_at", "ts"),
            _o("churned_at", "ts"),
            _r("updated_at", "ts"),
        ),
        (_not_before("churned_at", "created_at"),),
        anchor="created_at",
        events=("churned_at",),
    ),
    Entity(
        "crm",
        "leads",
        "One row per marketing lead.",
        (
            _k("lead_id"),
            _r("created_at", "ts"),
            _r("source", "enum", LEAD_SOURCES),
            _r("region"),
            _o("owner_id"),
            _r("status", "enum", LEAD_STATUSES),
            _o("converted_at", "ts"),
            _o("account_id"),
            _r("updated_at", "ts"),
        ),
        (_not_before("converted_at", "created_at"),),
        anchor="created_at",
    ),
    Entity(
        "crm",
        "opportunities",
        "One row per sales opportunity.",
        (
            _k("opportunity_id"),
            _r("account_id"),
            _o("owner_id"),
            _r("created_at", "ts"),
            _r("stage", "enum", STAGES),
            _r("amount", "decimal"),
            _r("currency"),
            _o("closed_at", "ts"),
            _r("updated_at", "ts"),
        ),
        (
            _non_negative("amount"),
            _present_when("stage", ("closed_won", "closed_lost"), "closed_at"),
            _not_before("closed_at", "created_at"),
        ),
        anchor="created_at",
        events=("closed_at",),
        foreign_keys=(_fk("account_id", "crm.accounts"),),
    ),
    Entity(
        "crm",
        "tickets",
        "One row per support case.",
        (
            _k("ticket_id"),
            _o("account_id"),
            _r("created_at", "ts"),
            _r("priority", "enum", PRIORITIES),
            _r("channel", "enum", TICKET_CHANNELS),
            _o("assignee_id"),
            _o("first_response_at", "ts"),
            _o("resolved_at", "ts"),
            _o("satisfaction_score", "integer"),
            _r("updated_at", "ts"),
        ),
        (
            _not_before("first_response_at", "created_at"),
            _not_before("resolved_at", "created_at"),
            _between("satisfaction_score", 1, 5),
        ),
        anchor="created_at",
        events=("first_response_at", "resolved_at"),
    ),
    Entity(
        "crm",
        "sla_policies",
        "One row per ticket priority: the service-level policy (reference data).",
        (
            _k("priority", "enum", PRIORITIES),
            _r("first_response_hours", "decimal"),
            _r("resolution_hours", "decimal"),
        ),
        (
            _positive("first_response_hours"),
            _positive("resolution_hours"),
        ),
    ),
    Entity(
        "crm",
        "marketing_spend",
        "One row per day, marketing channel and region: the money spent.",
        (
            _k("spend_date", "date"),
            _k("channel", "enum", LEAD_SOURCES),
            _k("region"),
            _r("amount", "decimal"),
            _r("currency"),
        ),
        (_non_negative("amount"),),
        anchor="spend_date",
    ),
    # --- sales -----------------------------------------------------------------------
    Entity(
        "sales",
        "products",
        "One row per product of the catalog; costs and prices in USD.",
        (
            _k("product_id"),
            _r("product_name"),
            _r("category"),
            _r("unit_cost", "decimal"),
            _o("list_price", "decimal"),
            _r("updated_at", "ts"),
        ),
        (_non_negative("unit_cost"),),
    ),
    Entity(
        "sales",
        "orders",
        "One row per customer order.",
        (
            _k("order_id"),
            _r("account_id"),
            _r("ordered_at", "ts"),
            _r("status", "enum", ORDER_STATUSES),
            _r("channel", "enum", ORDER_CHANNELS),
            _r("region"),
            _o("sales_rep_id"),
            _r("currency"),
            _o("fulfilled_at", "ts"),
            _r("updated_at", "ts"),
        ),
        (_not_before("fulfilled_at", "ordered_at"),),
        anchor="ordered_at",
        events=("fulfilled_at",),
        foreign_keys=(_fk("account_id", "crm.accounts"),),
    ),
    Entity(
        "sales",
        "order_lines",
        "One row per order line; prices in the order's currency.",
        (
            _k("order_id"),
            _k("line_number", "integer"),
            _r("product_id"),
            _r("quantity", "integer"),
            _r("unit_price", "decimal"),
            _o("discount_amount", "decimal"),
        ),
        (
            _positive("quantity"),
            _non_negative("unit_price"),
            _non_negative("discount_amount"),
        ),
        dated_by="sales.orders",
        foreign_keys=(_fk("product_id", "sales.products"),),
    ),
    Entity(
        "sales",
        "fx_rates",
        "One row per date and currency: US dollars per one unit of the currency.",
        (
            _k("rate_date", "date"),
            _k("currency"),
            _r("usd_per_unit", "decimal"),
        ),
        (_positive("usd_per_unit"),),
        anchor="rate_date",
    ),
    Entity(
        "sales",
        "sales_targets",
        "One row per month and region: the revenue plan in USD.",
        (
            _k("target_month", "date"),
            _k("region"),
            _r("revenue_target", "decimal"),
        ),
        (
            _first_of_month("target_month"),
            _non_negative("revenue_target"),
        ),
        anchor="target_month",
    ),
    # --- ops -------------------------------------------------------------------------
    Entity(
        "ops",
        "shipments",
        "One row per shipment of an order.",
        (
            _k("shipment_id"),
            _r("order_id"),
            _r("carrier"),
            _r("shipped_at", "ts"),
            _r("promised_at", "ts"),
            _o("delivered_at", "ts"),
            _r("updated_at", "ts"),
        ),
        (_not_before("delivered_at", "shipped_at"),),
        anchor="shipped_at",
        events=("delivered_at",),
        foreign_keys=(_fk("order_id", "sales.orders"),),
    ),
    Entity(
        "ops",
        "production_runs",
        "One row per production run of a plant.",
        (
            _k("run_id"),
            _r("plant"),
            _o("product_id"),
            _r("started_at", "ts"),
            _r("ended_at", "ts"),
            _r("units_produced", "integer"),
            _r("units_defective", "integer"),
            _r("updated_at", "ts"),
        ),
        (
            _not_before("ended_at", "started_at"),
            _non_negative("units_defective"),
            _at_most("units_defective", "units_produced"),
        ),
        anchor="ended_at",
    ),
    Entity(
        "ops",
        "services",
        "One row per service of the service catalog.",
        (
            _k("service_id"),
            _r("service_name"),
            _r("tier", "enum", TIERS),
            _r("availability_target", "decimal"),
        ),
        (_in_unit_interval("availability_target"),),
    ),
    Entity(
        "ops",
        "incidents",
        "One row per incident of a service; resolved_at null while it is ongoing.",
        (
            _k("incident_id"),
            _r("service_id"),
            _r("severity", "enum", SEVERITIES),
            _r("is_outage", "boolean"),
            _r("started_at", "ts"),
            _o("resolved_at", "ts"),
            _r("updated_at", "ts"),
        ),
        (_not_before("resolved_at", "started_at"),),
        anchor="started_at",
        events=("resolved_at",),
        foreign_keys=(_fk("service_id", "ops.services"),),
    ),
    Entity(
        "ops",
        "employees",
        "One row per employee.",
        (
            _k("employee_id"),
            _r("full_name"),
            _r("department"),
            _o("team"),
            _o("region"),
            _o("manager_id"),
            _r("hired_at", "date"),
            _o("terminated_at", "date"),
            _r("updated_at", "ts"),
        ),
    ),
    Entity(
        "ops",
        "attendance",
        "One row per employee per scheduled work day.",
        (
            _k("employee_id"),
            _k("work_date", "date"),
            _r("scheduled_hours", "decimal"),
            _o("check_in_at", "ts"),
            _o("check_out_at", "ts"),
        ),
        (
            _non_negative("scheduled_hours"),
            _not_before("check_out_at", "check_in_at"),
        ),
        anchor="work_date",
        foreign_keys=(_fk("employee_id", "ops.employees"),),
    ),
)

SYSTEMS: tuple[str, ...] = ("crm", "sales", "ops")


def entity(system: str, name: str) -> Entity:
    return next(e for e in ENTITIES if e.system == system and e.name == name)
