"""The goal files as the ``raw/goals/*`` assets, the dbt source ``goals``.

Validation runs in the pipeline itself: a goal file naming an unknown KPI or slice fails
this step with one sentence naming the file and the line, before dbt builds anything.
"""

import warnings

import dagster as dg

from orchestration.freshness import DAILY_RUN_FRESHNESS
from orchestration.goals.files import GoalFileError, load_goals, write_goals
from orchestration.keys import OWNER_DATA_ENGINEERING, raw_asset_key
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

GOALS_GROUP = "goals"
KEY_RESULTS_KEY = raw_asset_key(GOALS_GROUP, "key_results")
MILESTONES_KEY = raw_asset_key(GOALS_GROUP, "milestones")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            KEY_RESULTS_KEY,
            group_name=GOALS_GROUP,
            owners=[OWNER_DATA_ENGINEERING],
            kinds={"duckdb", "python", "yaml"},
            freshness_policy=DAILY_RUN_FRESHNESS,
            description=(
                "Every key result of the reviewed goal files (dbt_project/goals/*.yml), with "
                "its objective, KPI, slice, start and target values and due date, in "
                "raw_goals.key_results."
            ),
            metadata={"dagster/table_name": "raw_goals.key_results"},
        ),
        dg.AssetSpec(
            MILESTONES_KEY,
            group_name=GOALS_GROUP,
            owners=[OWNER_DATA_ENGINEERING],
            kinds={"duckdb", "python", "yaml"},
            freshness_policy=DAILY_RUN_FRESHNESS,
            description=(
                "Every milestone of the goal files' key results (date and expected value), "
                "in raw_goals.milestones."
            ),
            metadata={"dagster/table_name": "raw_goals.milestones"},
        ),
    ],
    name="goal_files",
    # A warehouse file still locked by another process; an invalid file is not retried.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
def goal_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    try:
        objectives = load_goals(DBT_PROJECT_DIR)
    except GoalFileError as exc:
        context.log.error(str(exc))
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    with warehouse.connection() as con:
        key_results, milestones = write_goals(con, objectives)
    context.log.info(
        f"goals: {len(objectives)} objectives, {key_results} key results, {milestones} milestones"
    )
    yield dg.MaterializeResult(
        asset_key=KEY_RESULTS_KEY,
        metadata={"dagster/row_count": key_results, "objectives": len(objectives)},
    )
    yield dg.MaterializeResult(asset_key=MILESTONES_KEY, metadata={"dagster/row_count": milestones})


def build_defs() -> dg.Definitions:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Definitions(assets=dg.with_source_code_references([goal_files]))
