"""One extract asset per landing entity, grouped by source system.

Each asset brings ``raw_<system>.<entity>`` in line with the entity's deliveries (see
``extract.py``) and reports the row accounting. Two checks guard it: a broken export
(many invalid rows in one delivery) blocks everything downstream; a few invalid rows
only warn, because they are normal and must not stop the monthly numbers.
"""

import warnings

import dagster as dg

from expectations.contract import ENTITIES, Entity
from orchestration.freshness import DAILY_RUN_FRESHNESS
from orchestration.ingestion.extract import DeliveryError, ensure_schema, extract_entity
from orchestration.ingestion.schema import contract_table_schema
from orchestration.keys import OWNER_DATA_ENGINEERING, landing_asset_key, raw_asset_key
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.settings import Settings

BROKEN_DELIVERY_CHECK = "no_broken_delivery"
INVALID_ROWS_CHECK = "invalid_rows"


def _accounting_table(rows: list[tuple]) -> str:
    lines = ["| delivery | delivered | loaded | quarantined |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {d:,} | {v:,} | {q:,} |" for name, d, v, q in rows[-30:]]
    if len(rows) > 30:
        lines.append(f"| … {len(rows) - 30} earlier deliveries | | | |")
    return "\n".join(lines)


def build_extract_asset(entity: Entity, settings: Settings) -> dg.AssetsDefinition:
    key = raw_asset_key(entity.system, entity.name)
    min_rows = settings.broken_delivery_min_rows
    max_share = settings.broken_delivery_invalid_share
    quiet_seconds = settings.delivery_quiet_seconds

    @dg.asset(
        key=key,
        group_name=entity.system,
        # A connector (database, API, demo) pulls into the landing folder first; files an
        # export job drops have no upstream asset.
        deps=(
            [landing_asset_key(entity.system, entity.name)] if settings.pulls(entity.system) else []
        ),
        owners=[OWNER_DATA_ENGINEERING],
        kinds={"duckdb", "python"},
        # A locked warehouse file or a landing share that blinks; a broken delivery raises
        # Failure(allow_retries=False) and is not retried.
        retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
        description=(
            f"{entity.description} Valid rows of every {entity.qualified_name} delivery in "
            f"raw_{entity.system}.{entity.name}; invalid rows in ingest.quarantine with "
            "their reasons; per-delivery accounting in ingest.delivery_files."
        ),
        metadata={
            "primary_key": ", ".join(entity.key),
            "landing_folder": entity.qualified_name.replace(".", "/"),
            "dagster/column_schema": contract_table_schema(entity),
            "dagster/table_name": f"raw_{entity.system}.{entity.name}",
        },
        freshness_policy=DAILY_RUN_FRESHNESS,
        check_specs=[
            dg.AssetCheckSpec(
                BROKEN_DELIVERY_CHECK,
                asset=key,
                blocking=True,
                description=(
                    f"No delivery of at least {min_rows} rows has more than {max_share:.0%} "
                    "invalid rows (a broken export blocks publishing)."
                ),
            ),
            dg.AssetCheckSpec(
                INVALID_ROWS_CHECK,
                asset=key,
                description="Warns when deliveries hold invalid rows (kept in ingest.quarantine).",
            ),
        ],
    )
    def _extract(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingZoneResource,
    ) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            ensure_schema(con)
            try:
                result = extract_entity(
                    con,
                    entity,
                    landing.root,
                    run_id=context.run_id,
                    progress=context.log.info,
                    # A connector's files are complete before this step starts.
                    quiet_seconds=0 if settings.pulls(entity.system) else quiet_seconds,
                )
            except DeliveryError as exc:
                # The run's summary names only the first failed step; the log names each.
                context.log.error(str(exc))
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            files = con.execute(
                "select delivery_file, rows_delivered, rows_loaded, rows_quarantined "
                "from ingest.delivery_files where system = ? and entity = ? "
                "order by delivery_file",
                [entity.system, entity.name],
            ).fetchall()
        for warning in result.warnings:
            context.log.warning(warning)

        delivered = sum(f[1] for f in files)
        quarantined = sum(f[3] for f in files)
        broken = [(name, d, q) for name, d, _, q in files if d >= min_rows and q > max_share * d]
        loaded_now = result.files_loaded
        context.log.info(
            f"{entity.qualified_name}: {len(loaded_now)} new deliveries loaded, "
            f"{result.rows_in_table:,} rows in raw, {quarantined:,} quarantined"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows_in_table,
                "delivery_files": len(files),
                "deliveries_loaded_this_run": len(loaded_now),
                "deliveries_unloaded_this_run": len(result.files_unloaded),
                "rows_delivered": delivered,
                "rows_loaded": delivered - quarantined,
                "rows_quarantined": quarantined,
                "rows_delivered_this_run": sum(f.rows_delivered for f in loaded_now),
                "rows_quarantined_this_run": sum(f.rows_quarantined for f in loaded_now),
                "accounting": dg.MetadataValue.md(_accounting_table(files)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=BROKEN_DELIVERY_CHECK,
                    passed=not broken,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=(
                        (
                            "; ".join(
                                f"{entity.qualified_name} delivery {name} has {q:,} invalid "
                                f"rows of {d:,} ({q / d:.0%})"
                                for name, d, q in broken
                            )
                            + "; the rows and their reasons are in ingest.quarantine"
                        )
                        if broken
                        else None
                    ),
                    metadata={"broken_deliveries": [name for name, _, _ in broken]},
                ),
                dg.AssetCheckResult(
                    check_name=INVALID_ROWS_CHECK,
                    passed=quarantined == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "rows_quarantined": quarantined,
                        "invalid_share": (quarantined / delivered) if delivered else 0.0,
                    },
                ),
            ],
        )

    return _extract


def build_defs(settings: Settings) -> dg.Definitions:
    assets = [build_extract_asset(entity, settings) for entity in ENTITIES]
    # Each asset links to the Python that builds it (dagster/code_references); the API is
    # marked beta, which is not worth a warning on every command.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Definitions(assets=dg.with_source_code_references(assets))
