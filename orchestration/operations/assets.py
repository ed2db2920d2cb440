"""Running the warehouse by itself: schedules, sensors, alerts.

The alerts are evaluated *before* publishing, into ``kpi.kpi_alerts`` of the working
warehouse, so the published copy carries the alerts of exactly the numbers it holds.
They are *sent* after publishing, so nobody is told about a number that a failed run
never published, and the notification a person gets points at numbers they can open.
"""

from datetime import datetime, timezone

import dagster as dg

from orchestration.keys import (
    KPI_ALERTS_KEY,
    OWNER_DATA_ENGINEERING,
    PUBLISHED_KPI_KEY,
    dbt_model_asset_key,
)
from orchestration.kpis.python_sources import check_declared_columns
from orchestration.operations import alerts as al
from orchestration.operations.config import OperationsConfig
from orchestration.operations.notify import DeliveryFailed, EmailChannel, configured_channels
from orchestration.operations.reminders import build_reminder_sensor
from orchestration.operations.schedules import build_pipeline_job, build_pipeline_schedule
from orchestration.operations.sensors import build_delivery_sensor, build_failure_sensor
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings
from reports.formatting import format_plain
from reports.published import latest_complete_month_start

OPERATIONS_GROUP = "operations"
NOTIFICATIONS_KEY = dg.AssetKey(["alerting", "notifications"])
COMMENT_INBOX_KEY = dg.AssetKey(["commentary", "inbox"])
DELIVERED_CHECK = "notifications_delivered"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _latest_month(con) -> tuple[str | None, str]:
    """The company-level KPI values of the latest complete month, as a Markdown table."""
    start = latest_complete_month_start(con)
    rows = con.execute(
        """
        select d.name, d.unit, v.value, v.target, v.status
        from kpi.kpi_values v
        join kpi.kpi_definitions d on d.kpi_id = v.kpi_id and d.is_current
        where v.grain = 'month' and v.dimension = 'all' and v.period_start = ?
        order by d.perspective, v.kpi_id
        """,
        [start],
    ).fetchall()
    if not rows:
        return None, "No complete month yet."
    return start.strftime("%Y-%m"), _md_table(
        ["KPI", "value", "target", "status"],
        [
            [name, format_plain(value, unit), format_plain(target, unit), status]
            for name, unit, value, target, status in rows
        ],
    )


def _open_alerts_table(open_alerts: list[dict]) -> str:
    if not open_alerts:
        return "No open alerts."
    rows = []
    for r in open_alerts:
        where = "all" if r["dimension"] == "all" else f"{r['dimension']}={r['dimension_value']}"
        rows.append(
            [
                r["kpi_name"],
                where,
                al.period_label(r["grain"], r["raised_period_start"]),
                r["last_status"],
                format_plain(r["last_value"], r["unit"]),
            ]
        )
    return _md_table(["KPI", "slice", "raised", "status now", "value now"], rows)


def build_alerts_asset(config: OperationsConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=KPI_ALERTS_KEY,
        deps=[
            dbt_model_asset_key("kpi", "kpi_values"),
            dbt_model_asset_key("kpi", "kpi_definitions"),
        ],
        group_name="kpi",
        owners=[OWNER_DATA_ENGINEERING],
        kinds={"python", "duckdb"},
        description=(
            "Early-warning alerts: every KPI at its review cadence, raised after N "
            "consecutive complete periods in a watched status (red, or amber too) and "
            "cleared after M consecutive green ones. One row per alert with the period "
            "that raised it and the one that cleared it; rules in "
            f"{config.alert_rules_path.name} (KPI_ALERT_RULES)."
        ),
        metadata={"rules": dg.MetadataValue.path(str(config.alert_rules_path))},
    )
    def kpi_alerts(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        try:
            rules = al.load_rules(config.alert_rules_path)
        except al.RulesError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        with warehouse.connection() as con:
            rows = al.evaluate_warehouse(con, rules, evaluated_at=_now())
            al.store_alerts(con, rows)
            check_declared_columns(con, KPI_ALERTS_KEY.path[-1])
            month, preview = _latest_month(con)
        open_alerts = [r for r in rows if r["state"] == "open"]
        context.log.info(f"{len(open_alerts)} open alerts, {len(rows) - len(open_alerts)} cleared")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(rows),
                "open_alerts": len(open_alerts),
                "open": dg.MetadataValue.md(_open_alerts_table(open_alerts)),
                "latest_complete_month": month or "none",
                "kpis_latest_month": dg.MetadataValue.md(preview),
            }
        )

    return kpi_alerts


def _webhook_payload(event: al.AlertEvent) -> dict:
    a = event.alert
    return {
        "event": f"kpi_alert_{event.kind}",
        "text": al.describe(event),
        "alert_id": a["alert_id"],
        "kpi_id": a["kpi_id"],
        "kpi_name": a["kpi_name"],
        "owner": a["owner"],
        "grain": a["grain"],
        "dimension": a["dimension"],
        "dimension_value": a["dimension_value"],
        "period_start": event.period_start.isoformat(),
        "raised_period_start": a["raised_period_start"].isoformat(),
        "statuses": a["statuses"].split(","),
        "value": a["raised_value"] if event.kind == "raised" else a["last_value"],
        "target": a["raised_target"] if event.kind == "raised" else a["last_target"],
    }


def _email(events: list[al.AlertEvent], config: OperationsConfig) -> tuple[str, str]:
    raised = sum(e.kind == "raised" for e in events)
    cleared = len(events) - raised
    parts = [f"{raised} raised" if raised else "", f"{cleared} cleared" if cleared else ""]
    subject = "KPI alerts: " + ", ".join(p for p in parts if p)
    body = "\n\n".join(al.describe(e) for e in events)
    body += "\n\nEvery alert and its history: table kpi.kpi_alerts of the published copy.\n"
    body += f"Dagster: {config.ui_url}\n"
    return subject, body


def deliver_alerts(con, run_id: str | None, config: OperationsConfig) -> dict:
    """Send every due alert event on every configured channel; record what went out."""
    al.ensure_log(con)
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'kpi' and table_name = 'kpi_alerts'"
    ).fetchone()[0]
    alerts = al.read_alerts(con) if exists else []
    sent = al.delivered(con)
    outcome: dict = {"channels": [], "sent": {}, "problems": []}
    try:
        channels = configured_channels()
    except DeliveryFailed as exc:
        outcome["problems"].append(str(exc))
        return outcome
    for channel in channels:
        outcome["channels"].append(channel.name)
        due = al.due_events(alerts, sent, channel.name)
        done = 0
        try:
            if isinstance(channel, EmailChannel):
                if due:
                    channel.send(*_email(due, config))
                    al.record_delivery(con, due, channel.name, _now(), run_id)
                    done = len(due)
            else:
                for event in due:
                    channel.send(_webhook_payload(event))
                    # One by one: what went out before a failure is not sent again.
                    al.record_delivery(con, [event], channel.name, _now(), run_id)
                    done += 1
        except DeliveryFailed as exc:
            outcome["problems"].append(
                f"{channel.name}: {exc}; {len(due) - done} notifications wait for the next run"
            )
        outcome["sent"][channel.name] = done
    return outcome


def build_notifications_asset(config: OperationsConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=NOTIFICATIONS_KEY,
        # It reads the alerts; it waits for the copy so that what it announces is published.
        deps=[KPI_ALERTS_KEY, PUBLISHED_KPI_KEY],
        group_name=OPERATIONS_GROUP,
        owners=[OWNER_DATA_ENGINEERING],
        kinds={"python", "email"},
        description=(
            "Sends newly raised and cleared KPI alerts to the webhook (KPI_ALERT_WEBHOOK_URL) "
            "and by e-mail (KPI_SMTP_*, KPI_ALERT_RECIPIENTS) once the numbers are published; "
            "alerting.notifications in the working warehouse records what was sent, so "
            "nothing goes out twice and what failed is retried on the next run."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                DELIVERED_CHECK,
                asset=NOTIFICATIONS_KEY,
                description="Warns when a channel did not take the due notifications.",
            )
        ],
    )
    def alert_notifications(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            outcome = deliver_alerts(con, context.run.run_id, config)
        for problem in outcome["problems"]:
            context.log.warning(problem)
        if not outcome["channels"]:
            context.log.info("no webhook or e-mail recipients configured: nothing sent")
        return dg.MaterializeResult(
            metadata={
                "channels": ", ".join(outcome["channels"]) or "none configured",
                **{f"sent_{name}": n for name, n in outcome["sent"].items()},
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=DELIVERED_CHECK,
                    passed=not outcome["problems"],
                    severity=dg.AssetCheckSeverity.WARN,
                    description="; ".join(outcome["problems"]) or None,
                )
            ],
        )

    return alert_notifications


@dg.asset(
    key=COMMENT_INBOX_KEY,
    group_name=OPERATIONS_GROUP,
    owners=[OWNER_DATA_ENGINEERING],
    kinds={"python", "csv"},
    description=(
        "Imports owner commentary dropped as CSV files (month,kpi_id,text,author) in the "
        "commentary inbox (KPI_COMMENT_INBOX) into the comment store (KPI_COMMENT_STORE); "
        "a file with an unknown KPI or month moves to rejected/ with the reason beside it."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "comment_files_imported",
            asset=COMMENT_INBOX_KEY,
            description="Warns when a dropped comment file was rejected.",
        )
    ],
)
def comment_inbox(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.kpis.semantic import load_registry
    from reports.commentary import comment_inbox as inbox_dir
    from reports.commentary import import_inbox

    stored, problems = import_inbox(set(load_registry()))
    for problem in problems:
        context.log.warning(problem)
    return dg.MaterializeResult(
        metadata={"comments_imported": len(stored), "inbox": str(inbox_dir())},
        check_results=[
            dg.AssetCheckResult(
                check_name="comment_files_imported",
                passed=not problems,
                severity=dg.AssetCheckSeverity.WARN,
                description="; ".join(problems) or None,
            )
        ],
    )


def build_defs(settings: Settings) -> dg.Definitions:
    config = OperationsConfig.from_env()
    return dg.Definitions(
        assets=[build_alerts_asset(config), build_notifications_asset(config), comment_inbox],
        jobs=[build_pipeline_job()],
        schedules=[build_pipeline_schedule(config)],
        sensors=[
            build_delivery_sensor(settings, config),
            build_failure_sensor(config),
            build_reminder_sensor(settings, config),
        ],
        # Also for runs the UI starts outside a job ("Materialize" on a selection): their
        # steps must not open the warehouse file from several processes at once.
        executor=dg.in_process_executor,
    )
