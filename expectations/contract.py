"""The landing contract as data: systems, entities, columns, keys and row rules.

Everything that reads, validates or generates landing data derives from ``ENTITIES``
so the contract is written down once. It is a library: it imports nothing of the
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
    name: str
    sql: str


@dataclass(frozen=True)
class Entity:
    system: str
    name: str
    description: str
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

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
    return Rule(f"{later} before {earlier}", f"{later} >= {earlier}")


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
            Rule("amount negative", "amount >= 0"),
            Rule(
                "closed stage without closed_at",
                "stage not in ('closed_won', 'closed_lost') or closed_at is not null",
            ),
            _not_before("closed_at", "created_at"),
        ),
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
            Rule("satisfaction_score outside 1 to 5", "satisfaction_score between 1 and 5"),
        ),
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
            Rule("first_response_hours not positive", "first_response_hours > 0"),
            Rule("resolution_hours not positive", "resolution_hours > 0"),
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
        (Rule("amount negative", "amount >= 0"),),
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
        (Rule("unit_cost negative", "unit_cost >= 0"),),
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
            Rule("quantity not positive", "quantity > 0"),
            Rule("unit_price negative", "unit_price >= 0"),
            Rule("discount_amount negative", "discount_amount >= 0"),
        ),
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
        (Rule("usd_per_unit not positive", "usd_per_unit > 0"),),
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
            Rule(
                "target_month not the first day of a month",
                "extract(day from target_month) = 1",
            ),
            Rule("revenue_target negative", "revenue_target >= 0"),
        ),
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
            Rule("units_defective negative", "units_defective >= 0"),
            Rule("units_defective above units_produced", "units_defective <= units_produced"),
        ),
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
        (
            Rule(
                "availability_target outside (0, 1]",
                "availability_target > 0 and availability_target <= 1",
            ),
        ),
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
            Rule("scheduled_hours negative", "scheduled_hours >= 0"),
            _not_before("check_out_at", "check_in_at"),
        ),
    ),
)

SYSTEMS: tuple[str, ...] = ("crm", "sales", "ops")


def entity(system: str, name: str) -> Entity:
    return next(e for e in ENTITIES if e.system == system and e.name == name)
