"""Pull assets: per entity of a system whose source is a connector, ``landing/<system>/<entity>``.

Which connector fills a system's landing folders is configuration
(``KPI_SOURCE_<SYSTEM>`` = files, demo, postgres or rest; see settings.py). For every
system not fed by files, each entity gets an asset that pulls it into the landing zone;
the extract asset ``raw/<system>/<entity>`` depends on it, so the UI shows the same raw
assets whatever the source, with the pull one step upstream.

Connection details come from the environment through Dagster's ``EnvVar``: read when a
run starts, shown in the UI by name only, never stored with the definitions.

    postgres: KPI_<SYSTEM>_POSTGRES_DSN (secret), KPI_<SYSTEM>_POSTGRES_SCHEMA
    rest:     KPI_<SYSTEM>_API_URL, KPI_<SYSTEM>_API_TOKEN (secret),
              KPI_<SYSTEM>_API_PAGE_SIZE, KPI_<SYSTEM>_API_TIMEOUT, KPI_<SYSTEM>_API_MAX_ATTEMPTS
    demo:     KPI_DEMO_SCALE, KPI_DEMO_SEED
"""

import os

import dagster as dg

from expectations.contract import ENTITIES, Entity
from orchestration.connectors import demo, postgres, rest
from orchestration.connectors.delivery import ConnectorError, PullResult
from orchestration.keys import OWNER_DATA_ENGINEERING, landing_asset_key
from orchestration.settings import PULLED_SOURCE_KINDS, Settings


class PostgresSourceResource(dg.ConfigurableResource):
    """A SQL database whose tables, named after the entities, hold a system's data."""

    dsn: str
    db_schema: str | None = None
    batch_rows: int = postgres.BATCH_ROWS

    def pull(self, entity: Entity, landing_dir, log) -> PullResult:
        engine = postgres.create_source_engine(self.dsn)
        try:
            return postgres.pull_entity(
                engine, entity, landing_dir, schema=self.db_schema, batch_rows=self.batch_rows
            )
        finally:
            engine.dispose()


class RestSourceResource(dg.ConfigurableResource):
    """A paginated JSON API with one endpoint per entity (see connectors/rest.py)."""

    base_url: str
    token: str
    page_size: int = 500
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    max_wait_seconds: float = 60.0

    def pull(self, entity: Entity, landing_dir, log) -> PullResult:
        source = rest.RestSource(
            base_url=self.base_url,
            token=self.token,
            name=f"the {entity.system} API",
            page_size=self.page_size,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            max_wait_seconds=self.max_wait_seconds,
        )
        return rest.pull_entity(source, entity, landing_dir, log=log)


class DemoSourceResource(dg.ConfigurableResource):
    """The built-in demo generator (deterministic per scale and seed)."""

    scale: float = 1.0
    seed: int = 42

    def pull(self, entity: Entity, landing_dir, log) -> PullResult:
        return demo.pull_entity(entity, landing_dir, scale=self.scale, seed=self.seed)


def source_resource(system: str, kind: str) -> dg.ConfigurableResource:
    prefix = f"KPI_{system.upper()}"
    if kind == "postgres":
        return PostgresSourceResource(
            dsn=dg.EnvVar(f"{prefix}_POSTGRES_DSN"),
            db_schema=os.environ.get(f"{prefix}_POSTGRES_SCHEMA") or None,
        )
    if kind == "rest":
        return RestSourceResource(
            base_url=dg.EnvVar(f"{prefix}_API_URL"),
            token=dg.EnvVar(f"{prefix}_API_TOKEN"),
            page_size=int(os.environ.get(f"{prefix}_API_PAGE_SIZE", "500")),
            timeout_seconds=float(os.environ.get(f"{prefix}_API_TIMEOUT", "30")),
            max_attempts=int(os.environ.get(f"{prefix}_API_MAX_ATTEMPTS", "6")),
        )
    if kind == "demo":
        return DemoSourceResource(
            scale=float(os.environ.get("KPI_DEMO_SCALE", "1")),
            seed=int(os.environ.get("KPI_DEMO_SEED", "42")),
        )
    raise ValueError(f"No connector for the source kind {kind!r}.")


_KIND_DESCRIPTIONS = {
    "postgres": "read from the SQL database table of the same name (incrementally by updated_at)",
    "rest": "read from the REST API's endpoint of the same name (incrementally by updated_at)",
    "demo": "written by the built-in demo generator",
}


def build_pull_asset(entity: Entity, kind: str, resource_key: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=landing_asset_key(entity.system, entity.name),
        group_name=entity.system,
        owners=[OWNER_DATA_ENGINEERING],
        kinds={kind, "python"},
        required_resource_keys={resource_key, "landing"},
        description=(
            f"The {entity.qualified_name} deliveries in the landing zone, "
            f"{_KIND_DESCRIPTIONS[kind]}. Each pull writes at most one delivery file; the "
            f"extract asset raw/{entity.system}/{entity.name} then loads it like any file."
        ),
        metadata={
            "source_kind": kind,
            "landing_folder": entity.qualified_name.replace(".", "/"),
        },
    )
    def _pull(context) -> dg.MaterializeResult:
        source = getattr(context.resources, resource_key)
        try:
            result = source.pull(entity, context.resources.landing.root, context.log.warning)
        except ConnectorError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        for warning in result.warnings:
            context.log.warning(warning)
        context.log.info(
            f"{entity.qualified_name}: {result.mode} pull from {result.source}, "
            f"{result.rows:,} rows delivered"
            + (f" in {result.delivery.name}" if result.delivery else "")
        )
        return dg.MaterializeResult(metadata=result.metadata())

    return _pull


def build_defs(settings: Settings) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    resources: dict[str, dg.ConfigurableResource] = {}
    for system, kind in settings.sources.items():
        if kind not in PULLED_SOURCE_KINDS:
            continue
        resource_key = f"{system}_source"
        resources[resource_key] = source_resource(system, kind)
        assets += [build_pull_asset(e, kind, resource_key) for e in ENTITIES if e.system == system]
    return dg.Definitions(assets=assets, resources=resources)
