"""The monthly scorecard as Dagster assets, partitioned by month.

Each partition renders one month from the published copy (what BI tools see) into the
archive: the company scorecard, one scorecard per KPI owner, and, when SMTP is
configured, the email. Backfilling past months is selecting partitions in the UI. The
job and the schedule that runs it after each month close are in schedules.py.
"""

import json
from pathlib import Path

import dagster as dg

from orchestration.keys import (
    MONTHLY,
    OWNER_DATA_ENGINEERING,
    PUBLISHED_KPI_KEY,
    REPORTS_GROUP,
    SCORECARD_MONTHS,
    SCORECARD_MONTHS_KEY,
)
from orchestration.operations.config import OperationsConfig
from orchestration.reports.schedules import build_scorecard_job, build_scorecard_schedule
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings

SCORECARD_KEY = dg.AssetKey(["reports", "monthly_scorecard"])
OWNER_SCORECARDS_KEY = dg.AssetKey(["reports", "owner_scorecards"])
SCORECARD_EMAIL_KEY = dg.AssetKey(["reports", "scorecard_email"])
OWNER_EMAILS_KEY = dg.AssetKey(["reports", "owner_scorecard_emails"])

OWNERS = [OWNER_DATA_ENGINEERING, "team:finance"]
BACKFILL_TAG = "dagster/backfill"


class ScorecardResource(dg.ConfigurableResource):
    """Where scorecards are archived and where owner commentary is read from."""

    archive_dir: str
    commentary_dir: str | None = None
    # Comments submitted without git (kpi-warehouse comment, the CSV inbox).
    comment_store: str | None = None
    # Only for a deliberate preview: the schedule must never mail a half month.
    allow_incomplete: bool = False

    @property
    def archive(self) -> Path:
        return Path(self.archive_dir)

    @property
    def commentary(self) -> Path | None:
        return Path(self.commentary_dir) if self.commentary_dir else None

    @property
    def store(self) -> Path | None:
        return Path(self.comment_store) if self.comment_store else None


def _month(context: dg.AssetExecutionContext) -> str:
    return context.partition_key[:7]


def _load(context, warehouse: WarehouseResource, scorecard: ScorecardResource, owner=None):
    from reports.render import start_preload
    from reports.scorecard import ScorecardError, load_scorecard

    start_preload()
    month = _month(context)
    try:
        model = load_scorecard(
            Path(warehouse.published_path),
            month,
            owner=owner,
            commentary_dir=scorecard.commentary,
            comment_store=scorecard.store,
        )
    except (ScorecardError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    if not model.is_complete and not scorecard.allow_incomplete:
        raise dg.Failure(
            description=(
                f"{month} is not complete in the published copy (data as of "
                f"{model.as_of.isoformat()}); materialize it after the pipeline has loaded "
                "the month's last day."
            )
        )
    return model


def _render(context, model, scorecard: ScorecardResource):
    from reports.archive import archive_scorecard
    from reports.scorecard import render_pdf

    result = render_pdf(model, run_id=context.run_id)
    if result.refused_urls:
        context.log.warning(f"the renderer refused {len(result.refused_urls)} URL(s)")
    return archive_scorecard(model, result, scorecard.archive, context.run_id), result


def complete_months(published_path: Path) -> list[str]:
    """The months (YYYY-MM) whose monthly KPI values are all complete in the published copy."""
    import duckdb

    con = duckdb.connect(str(published_path), read_only=True)
    try:
        rows = con.execute(
            "select strftime(period_start, '%Y-%m') from kpi.kpi_values "
            "where grain = 'month' and dimension = 'all' "
            "group by period_start having bool_and(is_complete) order by period_start"
        ).fetchall()
    finally:
        con.close()
    return [month for (month,) in rows]


@dg.asset(
    key=SCORECARD_MONTHS_KEY,
    deps=[PUBLISHED_KPI_KEY],
    group_name="publish",
    owners=[OWNER_DATA_ENGINEERING],
    kinds={"dagster"},
    description=(
        "The months a scorecard can be rendered for: every month whose KPIs are complete in "
        f"the published copy, registered as the partitions ({SCORECARD_MONTHS}) of the "
        "reports assets. An incomplete month is not offered."
    ),
)
def scorecard_months(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    months = complete_months(Path(warehouse.published_path))
    known = set(context.instance.get_dynamic_partitions(SCORECARD_MONTHS))
    new = [m for m in months if m not in known]
    if new:
        context.instance.add_dynamic_partitions(SCORECARD_MONTHS, new)
    # A restatement can reopen a month: it is withdrawn until it is complete again.
    withdrawn = sorted(known - set(months))
    for month in withdrawn:
        context.instance.delete_dynamic_partition(SCORECARD_MONTHS, month)
    context.log.info(
        f"{len(months)} scorecard months ({months[0] if months else '-'} to "
        f"{months[-1] if months else '-'}); {len(new)} new, {len(withdrawn)} withdrawn"
    )
    return dg.MaterializeResult(
        metadata={
            "months": len(months),
            "first_month": months[0] if months else "",
            "last_month": months[-1] if months else "",
            "added": dg.MetadataValue.json(new),
            "withdrawn": dg.MetadataValue.json(withdrawn),
        }
    )


def build_defs(settings: Settings) -> dg.Definitions:
    from reports.archive import archive_dir
    from reports.commentary import comment_store, commentary_dir

    @dg.asset(
        key=SCORECARD_KEY,
        deps=[PUBLISHED_KPI_KEY],
        partitions_def=MONTHLY,
        group_name=REPORTS_GROUP,
        owners=OWNERS,
        kinds={"pdf"},
        description=(
            "The monthly executive scorecard PDF, rendered from the published KPI copy "
            # Code spans: the UI renders Markdown, where a bare <archive> is an HTML tag.
            "and archived as `<archive>/<YYYY-MM>/scorecard-<YYYY-MM>.pdf` with a manifest."
        ),
    )
    def monthly_scorecard(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        scorecard: ScorecardResource,
    ) -> dg.MaterializeResult:
        model = _load(context, warehouse, scorecard)
        archived, result = _render(context, model, scorecard)
        context.log.info(f"scorecard: {archived.path}")
        counts = model.status_counts
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(archived.path)),
                "sha256": archived.sha256,
                "pages": result.pages,
                "as_of": model.as_of.isoformat(),
                "render_seconds": round(result.seconds, 2),
                "on_track": counts["green"],
                "at_risk": counts["amber"],
                "off_track": counts["red"],
                "commentary_missing": dg.MetadataValue.json(
                    [k.kpi_id for k in model.missing_commentary]
                ),
                "definition_versions": dg.MetadataValue.json(model.definition_versions),
                "numbers_sha256": model.numbers_fingerprint(),
                "manifest": dg.MetadataValue.path(str(archived.manifest_path)),
            }
        )

    @dg.asset(
        key=OWNER_SCORECARDS_KEY,
        deps=[PUBLISHED_KPI_KEY],
        partitions_def=MONTHLY,
        group_name=REPORTS_GROUP,
        owners=OWNERS,
        kinds={"pdf"},
        description="The same scorecard filtered to each KPI owner's KPIs, one PDF per owner.",
    )
    def owner_scorecards(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        scorecard: ScorecardResource,
    ) -> dg.MaterializeResult:
        company = _load(context, warehouse, scorecard)
        files = {}
        for owner in sorted({k.owner for k in company.kpis}):
            model = _load(context, warehouse, scorecard, owner=owner)
            archived, _ = _render(context, model, scorecard)
            files[owner] = {"path": str(archived.path), "sha256": archived.sha256}
        return dg.MaterializeResult(
            metadata={
                "owners": len(files),
                "files": dg.MetadataValue.json(files),
            }
        )

    @dg.asset(
        key=SCORECARD_EMAIL_KEY,
        deps=[SCORECARD_KEY],
        partitions_def=MONTHLY,
        group_name=REPORTS_GROUP,
        owners=OWNERS,
        kinds={"email"},
        description=(
            "Emails the month's scorecard with a short summary when KPI_SMTP_HOST is set; "
            "otherwise records that nothing was sent."
        ),
    )
    def scorecard_email(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        scorecard: ScorecardResource,
    ) -> dg.MaterializeResult:
        from reports.archive import latest_revision, scorecard_filename
        from reports.delivery import DeliveryError, send_scorecard, settings_for
        from reports.owners import OwnersError

        try:
            # The full scorecard goes to the executive list (KPI_REPORT_RECIPIENTS or the
            # owners file).
            smtp = settings_for(None)
        except (DeliveryError, OwnersError) as exc:
            raise dg.Failure(description=str(exc)) from exc
        if smtp is None:
            context.log.warning("KPI_SMTP_HOST is not set: the scorecard was not emailed")
            return dg.MaterializeResult(metadata={"sent": False, "reason": "SMTP not configured"})
        # Backfilling two years of scorecards must not send two years of mail; a single
        # month materialized on purpose (or by the schedule) is sent.
        if BACKFILL_TAG in context.run.tags:
            context.log.info("part of a backfill: the scorecard was archived, not emailed")
            return dg.MaterializeResult(metadata={"sent": False, "reason": "backfill"})
        model = _load(context, warehouse, scorecard)
        month_dir = scorecard.archive / model.month_key
        manifest = json.loads((month_dir / "manifest.json").read_text(encoding="utf-8"))
        # A restated month has several revisions: the newest is the one to send.
        name = latest_revision(manifest, scorecard_filename(model.month_key))
        entry = manifest["files"][name]
        # The mail's summary is computed now; it must describe the attached PDF.
        if entry["numbers_sha256"] != model.numbers_fingerprint():
            raise dg.Failure(
                description=(
                    "The published KPIs changed since the scorecard was rendered; "
                    "materialize reports/monthly_scorecard again before emailing."
                )
            )
        try:
            send_scorecard(model, month_dir / name, entry["sha256"], entry["pages"], smtp)
        except DeliveryError as exc:
            raise dg.Failure(description=str(exc)) from exc
        return dg.MaterializeResult(
            metadata={
                "sent": True,
                "recipients": len(smtp.recipients),
                "smtp_host": smtp.host,
                "sha256": entry["sha256"],
            }
        )

    @dg.asset(
        key=OWNER_EMAILS_KEY,
        deps=[OWNER_SCORECARDS_KEY],
        partitions_def=MONTHLY,
        group_name=REPORTS_GROUP,
        owners=OWNERS,
        kinds={"email"},
        description=(
            "Emails each KPI owner their own scorecard, to the addresses the owners file "
            "(reports/owners.yml, KPI_OWNERS_FILE) maps their role to, when KPI_SMTP_HOST "
            "is set; an owner without an address is named in the metadata."
        ),
    )
    def owner_scorecard_emails(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        scorecard: ScorecardResource,
    ) -> dg.MaterializeResult:
        from reports.archive import latest_revision, scorecard_filename
        from reports.delivery import DeliveryError, SmtpSettings, send_scorecard, settings_for
        from reports.owners import OwnersError, load_owners

        try:
            directory = load_owners()
            configured = SmtpSettings.from_env()
        except (OwnersError, DeliveryError) as exc:
            raise dg.Failure(description=str(exc)) from exc
        if configured is None:
            context.log.warning("KPI_SMTP_HOST is not set: no owner scorecard was emailed")
            return dg.MaterializeResult(metadata={"sent": 0, "reason": "SMTP not configured"})
        if BACKFILL_TAG in context.run.tags:
            context.log.info("part of a backfill: owner scorecards were archived, not emailed")
            return dg.MaterializeResult(metadata={"sent": 0, "reason": "backfill"})
        company = _load(context, warehouse, scorecard)
        manifest_path = scorecard.archive / company.month_key / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        sent, unmapped = {}, []
        for owner in sorted({k.owner for k in company.kpis}):
            if not directory.addresses(owner):
                unmapped.append(owner)
                continue
            model = _load(context, warehouse, scorecard, owner=owner)
            name = latest_revision(manifest, scorecard_filename(model.month_key, owner))
            entry = manifest["files"].get(name)
            if entry is None or entry["numbers_sha256"] != model.numbers_fingerprint():
                raise dg.Failure(
                    description=(
                        f"The scorecard of {owner} is not archived for these numbers; "
                        "materialize reports/owner_scorecards again before emailing."
                    )
                )
            try:
                smtp = settings_for(owner, directory)
                send_scorecard(
                    model, manifest_path.parent / name, entry["sha256"], entry["pages"], smtp
                )
            except DeliveryError as exc:
                raise dg.Failure(description=str(exc)) from exc
            sent[owner] = list(smtp.recipients)
        for owner in unmapped:
            context.log.warning(f"no e-mail address for the owner '{owner}' in the owners file")
        return dg.MaterializeResult(
            metadata={
                "sent": len(sent),
                "recipients": dg.MetadataValue.json(sent),
                "owners_without_address": dg.MetadataValue.json(unmapped),
            }
        )

    return dg.Definitions(
        assets=[
            scorecard_months,
            monthly_scorecard,
            owner_scorecards,
            scorecard_email,
            owner_scorecard_emails,
        ],
        jobs=[build_scorecard_job()],
        schedules=[build_scorecard_schedule(OperationsConfig.from_env())],
        resources={
            "scorecard": ScorecardResource(
                archive_dir=str(archive_dir()),
                commentary_dir=str(commentary_dir()),
                comment_store=str(comment_store()),
            )
        },
    )
