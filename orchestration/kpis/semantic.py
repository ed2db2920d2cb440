"""The MetricFlow semantic layer, generated from the KPI registry.

BI tools that read the dbt Semantic Layer (Lightdash, Superset through MetricFlow, the
``mf`` CLI) see the KPIs as MetricFlow metrics named by their kpi_id. What a metric *is*
to a reader (label, description, formula, owner, unit, direction, perspective) is taken
from the registry (``config.meta.kpi`` in ``models/marts/kpis/_kpis__models.yml``) and
never typed here; this module adds only what MetricFlow needs on top: which record-level
fact (``models/semantic/sem_*.sql``) a KPI sums, its measures, and how a registry slice
is spelled as a MetricFlow group-by.

The generated file, ``models/semantic/_semantic__models.yml``, is committed so that
``dbt parse`` and ``mf`` work on a fresh clone; ``check`` fails (and so does CI) when it
differs from what the registry generates now.

    python -m orchestration.kpis.semantic check
    python -m orchestration.kpis.semantic write
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestration.settings import DBT_PROJECT_DIR
from reports import registry

REGISTRY_FILE = DBT_PROJECT_DIR / registry.REGISTRY_PATH
SEMANTIC_FILE = DBT_PROJECT_DIR / "models" / "semantic" / "_semantic__models.yml"
TIME_SPINE_MODEL = "metricflow_time_spine"

# Durations are summed as integer microseconds (exact) and converted once, after the sum,
# exactly as the fct_kpi_* models do; a derived metric divides in the same order.
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Measure:
    name: str
    description: str
    expr: str
    agg: str = "sum"


@dataclass(frozen=True)
class SemanticModel:
    name: str
    model: str
    description: str
    entity: str
    entity_expr: str
    time_dimension: str
    time_dimension_description: str
    dimensions: dict[str, str]  # name -> description
    measures: tuple[Measure, ...]
    foreign_entities: dict[str, str] = field(default_factory=dict)  # name -> column


SEMANTIC_MODELS: tuple[SemanticModel, ...] = (
    SemanticModel(
        name="orders",
        model="sem_orders",
        description="Orders as of the run, placed in time by ordered_at.",
        entity="order",
        entity_expr="order_id",
        time_dimension="ordered_at",
        time_dimension_description="When the order was placed (UTC).",
        dimensions={
            "region": "The order's region ('unknown' when missing).",
            "channel": "The order's sales channel ('unknown' when missing).",
            "status": "The order's status as of the run.",
            "currency": "The currency the order was placed in.",
            "segment": "The ordering account's segment ('unknown' when the account is unknown).",
            "industry": "The ordering account's industry ('unknown' when unknown).",
        },
        measures=(
            Measure(
                "qualifying_revenue_usd",
                "Net revenue in USD of orders placed or fulfilled (exact decimal).",
                "qualifying_revenue_usd",
            ),
            Measure(
                "qualifying_orders",
                "Orders placed or fulfilled in a currency with a rate.",
                "qualifying_orders",
            ),
            Measure(
                "qualifying_known_product_revenue_usd",
                "Net revenue in USD of qualifying orders' lines of catalog products.",
                "qualifying_known_product_revenue_usd",
            ),
            Measure(
                "qualifying_known_product_margin_usd",
                "That revenue less quantity x unit_cost of those lines.",
                "qualifying_known_product_margin_usd",
            ),
        ),
    ),
    SemanticModel(
        name="order_fulfilments",
        model="sem_order_fulfilments",
        description="Orders fulfilled as of the run and not cancelled, by fulfilled_at.",
        entity="fulfilled_order",
        entity_expr="order_id",
        time_dimension="fulfilled_at",
        time_dimension_description="When the order was fulfilled (UTC).",
        dimensions={
            "region": "The order's region ('unknown' when missing).",
            "channel": "The order's sales channel ('unknown' when missing).",
            "status": "The order's status as of the run.",
        },
        measures=(
            Measure("fulfilled_orders", "Orders fulfilled.", "1"),
            Measure(
                "completion_us",
                "Sum of fulfilled_at - ordered_at in integer microseconds.",
                "completion_us",
            ),
        ),
    ),
    SemanticModel(
        name="leads",
        model="sem_leads",
        description="Leads as of the run, placed in time by created_at.",
        entity="lead",
        entity_expr="lead_id",
        time_dimension="created_at",
        time_dimension_description="When the lead was created (UTC).",
        dimensions={
            "region": "The lead's region ('unknown' when missing).",
            "channel": "The lead's source ('unknown' when missing).",
            "status": "The lead's status as of the run.",
        },
        measures=(
            Measure("created_leads", "Leads created.", "1"),
            Measure(
                "converted_leads",
                "Leads with a converted_at before the cut-off.",
                "converted_leads",
            ),
        ),
    ),
    SemanticModel(
        name="marketing",
        model="sem_marketing",
        description=(
            "Marketing spend rows and leads in one fact, each by its own date, so that "
            "spend and leads group by the same channel and region."
        ),
        entity="marketing_record",
        entity_expr="marketing_record_id",
        time_dimension="event_at",
        time_dimension_description="spend_date of a spend row, created_at of a lead (UTC).",
        dimensions={
            "channel": "The spend's channel or the lead's source ('unknown' when missing).",
            "region": "The spend's or the lead's region ('unknown' when missing).",
            "record_type": "'spend' or 'lead'.",
        },
        measures=(
            Measure(
                "marketing_spend_usd",
                "Marketing spend in USD (exact decimal; spend without any rate left out).",
                "spend_usd",
            ),
            Measure("marketing_leads", "Leads created.", "leads"),
        ),
    ),
    SemanticModel(
        name="tickets",
        model="sem_tickets",
        description="Support tickets as of the run, placed in time by created_at.",
        entity="ticket",
        entity_expr="ticket_id",
        time_dimension="created_at",
        time_dimension_description="When the ticket was created (UTC).",
        dimensions={
            "priority": "The ticket's priority ('unknown' when missing).",
            "channel": "The ticket's channel ('unknown' when missing).",
        },
        measures=(
            Measure("responded_tickets", "Tickets with a first response.", "responded_tickets"),
            Measure(
                "first_response_us",
                "Sum of first_response_at - created_at in integer microseconds.",
                "first_response_us",
            ),
        ),
    ),
    SemanticModel(
        name="ticket_resolutions",
        model="sem_ticket_resolutions",
        description="Support tickets resolved as of the run, placed in time by resolved_at.",
        entity="resolved_ticket",
        entity_expr="ticket_id",
        time_dimension="resolved_at",
        time_dimension_description="When the ticket was resolved (UTC).",
        dimensions={
            "priority": "The ticket's priority ('unknown' when missing).",
            "channel": "The ticket's channel ('unknown' when missing).",
        },
        measures=(
            Measure(
                "rated_tickets", "Resolved tickets with a satisfaction score.", "rated_tickets"
            ),
            Measure(
                "satisfaction_score_total",
                "Sum of the satisfaction scores (1 to 5).",
                "satisfaction_score",
            ),
            Measure(
                "sla_tickets", "Resolved tickets whose priority has an SLA policy.", "sla_tickets"
            ),
            Measure(
                "sla_met_tickets",
                "Of those, the ones resolved within the policy's resolution_hours.",
                "sla_met_tickets",
            ),
        ),
    ),
    SemanticModel(
        name="shipment_deliveries",
        model="sem_shipment_deliveries",
        description="Shipments delivered as of the run, placed in time by delivered_at.",
        entity="delivered_shipment",
        entity_expr="shipment_id",
        time_dimension="delivered_at",
        time_dimension_description="When the shipment was delivered (UTC).",
        dimensions={
            "carrier": "The shipment's carrier ('unknown' when missing).",
            "region": "The shipment's order's region ('unknown' when the order is unknown).",
            "channel": "The shipment's order's channel ('unknown' when the order is unknown).",
        },
        measures=(
            Measure("delivered_shipments", "Shipments delivered.", "1"),
            Measure(
                "on_time_shipments",
                "Shipments delivered by promised_at.",
                "on_time_shipments",
            ),
        ),
    ),
    SemanticModel(
        name="opportunity_closes",
        model="sem_opportunity_closes",
        description="Opportunities closed won or lost as of the run, by closed_at.",
        entity="closed_opportunity",
        entity_expr="opportunity_id",
        time_dimension="closed_at",
        time_dimension_description="When the opportunity was closed (UTC).",
        dimensions={
            "region": "The account's region ('unknown' when the account is unknown).",
            "segment": "The account's segment ('unknown' when the account is unknown).",
            "industry": "The account's industry ('unknown' when the account is unknown).",
            "stage": "closed_won or closed_lost.",
        },
        measures=(
            Measure("closed_opportunities", "Opportunities closed won or lost.", "1"),
            Measure("won_opportunities", "Opportunities closed won.", "won_opportunities"),
        ),
    ),
    SemanticModel(
        name="production_runs",
        model="sem_production_runs",
        description="Production runs ended as of the run, placed in time by ended_at.",
        entity="production_run",
        entity_expr="run_id",
        time_dimension="ended_at",
        time_dimension_description="When the production run ended (UTC).",
        dimensions={
            "plant": "The plant that ran it ('unknown' when missing).",
            "product_id": "The product made.",
        },
        measures=(
            Measure("units_defective", "Defective units.", "units_defective"),
            Measure("units_produced", "Units produced.", "units_produced"),
        ),
    ),
    SemanticModel(
        name="attendance",
        model="sem_attendance",
        description="Scheduled work days (scheduled_hours > 0) as of the run, by work_date.",
        entity="attendance_day",
        entity_expr="attendance_day_id",
        time_dimension="work_date",
        time_dimension_description="The scheduled work day.",
        dimensions={
            "department": "The employee's department ('unknown' when the employee is unknown).",
            "team": "The employee's team ('unknown' when the employee is unknown).",
        },
        measures=(
            Measure("scheduled_days", "Scheduled work days.", "1"),
            Measure("attended_days", "Scheduled work days with a check-in.", "attended_days"),
        ),
    ),
)


@dataclass(frozen=True)
class KpiMetric:
    """How one KPI is computed by MetricFlow: numerator and denominator are measures of
    ``semantic_model``; ``us_per_unit`` makes a duration average (derived metric)."""

    semantic_model: str
    numerator: str
    denominator: str | None = None
    us_per_unit: int | None = None


KPI_METRICS: dict[str, KpiMetric] = {
    "revenue": KpiMetric("orders", "qualifying_revenue_usd"),
    "average_order_value": KpiMetric("orders", "qualifying_revenue_usd", "qualifying_orders"),
    "gross_margin_rate": KpiMetric(
        "orders", "qualifying_known_product_margin_usd", "qualifying_known_product_revenue_usd"
    ),
    "cost_per_lead": KpiMetric("marketing", "marketing_spend_usd", "marketing_leads"),
    "csat_score": KpiMetric("ticket_resolutions", "satisfaction_score_total", "rated_tickets"),
    "on_time_delivery_rate": KpiMetric(
        "shipment_deliveries", "on_time_shipments", "delivered_shipments"
    ),
    "first_response_time_hours": KpiMetric(
        "tickets", "first_response_us", "responded_tickets", us_per_unit=US_PER_HOUR
    ),
    "sla_compliance_rate": KpiMetric("ticket_resolutions", "sla_met_tickets", "sla_tickets"),
    "lead_conversion_rate": KpiMetric("leads", "converted_leads", "created_leads"),
    "win_rate": KpiMetric("opportunity_closes", "won_opportunities", "closed_opportunities"),
    "order_completion_time_days": KpiMetric(
        "order_fulfilments", "completion_us", "fulfilled_orders", us_per_unit=US_PER_DAY
    ),
    "defect_rate": KpiMetric("production_runs", "units_defective", "units_produced"),
    "attendance_rate": KpiMetric("attendance", "attended_days", "scheduled_days"),
}

# KPIs whose value is not a sum of per-record contributions placed in time by one
# timestamp; MetricFlow would need a second implementation of them, so they are served
# from kpi.kpi_values only (README, "Governed metrics (MetricFlow)").
NOT_EXPRESSIBLE: dict[str, str] = {
    "customer_retention_rate": (
        "a cohort measured at both ends of each period (accounts active at its start, still "
        "active at its end): which accounts count depends on the period's bounds, so a "
        "month is not the sum of its days and no record has one time to place it by"
    ),
    "ticket_backlog": (
        "a level at the end of each period (tickets open then), not a flow of events: a "
        "month's backlog is not the sum of its days, and a ticket counts in every period "
        "it stays open"
    ),
    "service_availability": (
        "the length of the union of overlapping outage intervals clipped to each period, "
        "relative to the period's length up to the cut-off: neither is a sum of "
        "per-record values"
    ),
}


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, dict]:
    """kpi_id -> its governed definition (config.meta.kpi), in the registry's order."""
    return registry.load_registry(path)


def _semantic_model(name: str) -> SemanticModel:
    return next(m for m in SEMANTIC_MODELS if m.name == name)


def group_by_names(kpi_id: str, registry: dict[str, dict]) -> dict[str, str]:
    """The KPI's registry slices -> their MetricFlow group-by names (entity__dimension)."""
    model = _semantic_model(KPI_METRICS[kpi_id].semantic_model)
    names = {}
    for dimension in registry[kpi_id]["dimensions"].split(","):
        dimension = dimension.strip()
        if dimension not in model.dimensions:
            raise ValueError(
                f"KPI {kpi_id} is sliced by {dimension}, which semantic model {model.name} "
                "has no dimension for; add it to sem_* and SEMANTIC_MODELS."
            )
        names[dimension] = f"{model.entity}__{dimension}"
    return names


def _current_version(kpi: dict) -> dict:
    return max(kpi["versions"], key=lambda v: v["version"])


def _metric_meta(kpi_id: str, kpi: dict, registry: dict[str, dict]) -> dict:
    version = _current_version(kpi)
    return {
        "kpi": {
            "id": kpi_id,
            "owner": kpi["owner"],
            "unit": kpi["unit"],
            "direction": kpi["direction"],
            "perspective": kpi["perspective"],
            "indicator_type": kpi["indicator_type"],
            "measure_type": kpi["measure_type"],
            "question": kpi["question"],
            "definition_version": version["version"],
            "effective_from": str(version["effective_from"]),
            "formula": version["formula"],
            "slices": group_by_names(kpi_id, registry),
            "governed_table": "kpi.kpi_values",
        }
    }


def _measure_metric(measure: str) -> dict:
    return {
        "name": measure,
        "label": measure.replace("_", " ").capitalize(),
        "description": f"Sum of the measure {measure} (a building block of the KPI metrics).",
        "type": "simple",
        "type_params": {"measure": measure},
    }


def generate(registry: dict[str, dict] | None = None) -> dict:
    """The semantic YAML document (models, semantic_models, metrics) as a dict."""
    registry = load_registry() if registry is None else registry
    unknown = (set(KPI_METRICS) | set(NOT_EXPRESSIBLE)) - set(registry)
    unplaced = set(registry) - set(KPI_METRICS) - set(NOT_EXPRESSIBLE)
    if unknown or unplaced:
        raise ValueError(
            "The semantic layer and the registry disagree: "
            + "; ".join(
                [f"{k} is not in the registry" for k in sorted(unknown)]
                + [
                    f"{k} is neither a metric nor listed as not expressible"
                    for k in sorted(unplaced)
                ]
            )
        )

    models = [
        {
            "name": TIME_SPINE_MODEL,
            "description": (
                "MetricFlow's day time spine: every day from the one holding the earliest "
                "anchor date to the as-of date."
            ),
            "time_spine": {"standard_granularity_column": "date_day"},
            "columns": [
                {"name": "date_day", "description": "The day.", "granularity": "day"},
            ],
        }
    ]

    # The record-level views, documented from the same descriptions (the Dagster UI
    # shows them as the views' column schema).
    for m in SEMANTIC_MODELS:
        columns = {m.entity_expr: f"Identifies the {m.entity.replace('_', ' ')}."}
        columns[m.time_dimension] = m.time_dimension_description
        columns.update(m.dimensions)
        columns.update(
            {measure.expr: measure.description for measure in m.measures if measure.expr != "1"}
        )
        models.append(
            {
                "name": m.model,
                "description": f"{m.description} Read by the semantic model {m.name}.",
                "columns": [{"name": n, "description": d} for n, d in columns.items()],
            }
        )

    semantic_models = []
    for m in SEMANTIC_MODELS:
        semantic_models.append(
            {
                "name": m.name,
                "description": m.description,
                "model": f"ref('{m.model}')",
                "defaults": {"agg_time_dimension": m.time_dimension},
                "entities": [{"name": m.entity, "type": "primary", "expr": m.entity_expr}],
                "dimensions": [
                    {
                        "name": m.time_dimension,
                        "description": m.time_dimension_description,
                        "type": "time",
                        "type_params": {"time_granularity": "day"},
                    }
                ]
                + [
                    {"name": name, "description": description, "type": "categorical"}
                    for name, description in m.dimensions.items()
                ],
                "measures": [
                    {
                        "name": measure.name,
                        "description": measure.description,
                        "agg": measure.agg,
                        "expr": measure.expr,
                    }
                    for measure in m.measures
                ],
            }
        )

    metrics = []
    building_blocks: list[str] = []
    for kpi_id, kpi in registry.items():
        spec = KPI_METRICS.get(kpi_id)
        if spec is None:
            continue
        version = _current_version(kpi)
        metric = {
            "name": kpi_id,
            "label": kpi["name"],
            "description": (
                f"{kpi['description']} Formula (definition version {version['version']}): "
                f"{version['formula']}"
            ),
        }
        if spec.denominator is None:
            # A sum over no records is 0, not null (as in kpi_values).
            metric["type"] = "simple"
            metric["type_params"] = {
                "measure": {"name": spec.numerator, "fill_nulls_with": 0, "join_to_timespine": True}
            }
        elif spec.us_per_unit is None:
            metric["type"] = "ratio"
            metric["type_params"] = {"numerator": spec.numerator, "denominator": spec.denominator}
            building_blocks += [spec.numerator, spec.denominator]
        else:
            metric["type"] = "derived"
            metric["type_params"] = {
                "expr": (f"{spec.numerator} / {spec.us_per_unit} / nullif({spec.denominator}, 0)"),
                "metrics": [{"name": spec.numerator}, {"name": spec.denominator}],
            }
            building_blocks += [spec.numerator, spec.denominator]
        metric["config"] = {"meta": _metric_meta(kpi_id, kpi, registry)}
        metrics.append(metric)
    metrics += [_measure_metric(m) for m in dict.fromkeys(building_blocks)]

    return {
        "version": 2,
        "models": models,
        "semantic_models": semantic_models,
        "metrics": metrics,
    }


HEADER = (
    "# Generated from the KPI registry by orchestration/kpis/semantic.py; do not edit.\n"
    "# Regenerate with: python -m orchestration.kpis.semantic write\n"
)


def render(registry: dict[str, dict] | None = None) -> str:
    body = yaml.safe_dump(
        generate(registry), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "check"
    try:
        text = render()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if command == "write":
        SEMANTIC_FILE.write_text(text)
        print(f"wrote {SEMANTIC_FILE}")
        return 0
    if command == "check":
        if not SEMANTIC_FILE.exists() or SEMANTIC_FILE.read_text() != text:
            print(
                f"error: {SEMANTIC_FILE.name} differs from what the KPI registry generates; "
                "run: python -m orchestration.kpis.semantic write",
                file=sys.stderr,
            )
            return 1
        print(f"{SEMANTIC_FILE.name} matches the KPI registry.")
        return 0
    print("usage: python -m orchestration.kpis.semantic [check|write]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
