"""Every description the Dagster UI shows, rendered as Markdown, keeps its placeholders.

The UI renders asset, check, job, schedule and sensor descriptions as Markdown: a raw
``<archive>`` is an HTML tag there and vanishes, which once turned
"archived as <archive>/<YYYY-MM>/scorecard-<YYYY-MM>.pdf" into "archived as //scorecard-.pdf".
"""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

PLACEHOLDER = re.compile(r"<[^<>\s]+>")
TAG = re.compile(r"<[^>]+>")


def _descriptions() -> list[tuple[str, str]]:
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    found = []
    for assets_def in repo.asset_graph.assets_defs:
        for key, spec in ((s.key, s) for s in assets_def.specs):
            if spec.description:
                found.append((f"asset {key.to_user_string()}", spec.description))
        for check in assets_def.check_specs:
            if check.description:
                name = f"check {check.asset_key.to_user_string()}:{check.name}"
                found.append((name, check.description))
        if assets_def.op.description and assets_def.is_executable:
            found.append((f"op {assets_def.op.name}", assets_def.op.description))
    for job in repo.get_all_jobs():
        if job.description:
            found.append((f"job {job.name}", job.description))
    for schedule in repo.schedule_defs:
        if schedule.description:
            found.append((f"schedule {schedule.name}", schedule.description))
    for sensor in repo.sensor_defs:
        if sensor.description:
            found.append((f"sensor {sensor.name}", sensor.description))
    return found


def _rendered_text(markdown: str) -> str:
    """What a reader sees: the rendered HTML without its tags, entities decoded."""
    rendered = MarkdownIt("commonmark").render(markdown)
    return html.unescape(TAG.sub("", rendered))


LINK_TARGET = re.compile(r"\]\([^()\s]*\)")


def _swallowed(description: str) -> list[str]:
    text = _rendered_text(description)
    # A link's target is not shown, by design: only its text must survive.
    description = LINK_TARGET.sub("]", description)
    # Identifiers lose their underscores where Markdown takes them for emphasis
    # (Markdown the author meant, such as **Formula**, renders as intended).
    found = {*PLACEHOLDER.findall(description), *re.findall(r"\w+_[\w.]*", description)}
    # Counted: the same text may survive in a code block and vanish from the prose.
    return sorted(p for p in found if text.count(p) < description.count(p))


def test_the_check_finds_a_swallowed_placeholder():
    assert _swallowed("archived as <archive>/<YYYY-MM>/scorecard-<YYYY-MM>.pdf")
    assert _swallowed("_the_ fct_kpi_<kpi_id> model")
    assert _swallowed("__init__ of raw_sales")
    assert not _swallowed("archived as `<archive>/<YYYY-MM>/scorecard-<YYYY-MM>.pdf`")
    assert not _swallowed("archived as &lt;archive&gt;/scorecard.pdf in raw_sales.orders")
    assert _swallowed("each fct_kpi_<id> model\n\n```sql\n-- each fct_kpi_<id> model\n```")
    assert not _swallowed("see [int_as_of](http://docs/dbt/#!/model/model.kpi_warehouse.int_as_of)")
    assert _swallowed("see [the rules](#!/x) of <entity>")


def test_kpi_descriptions_link_the_dbt_docs_on_the_docs_server(descriptions):
    from orchestration.docs_server import docs_url

    revenue = dict(descriptions)["asset marts/fct_kpi_revenue"]
    assert f"]({docs_url()}/dbt/#!/exposure/exposure.kpi_warehouse.data_quality_rules)" in revenue
    assert "](#!/" not in revenue


@pytest.fixture(scope="module")
def descriptions():
    found = _descriptions()
    assert len(found) > 200, "every asset and check of the code location has a description"
    return found


def test_every_description_renders_without_an_empty_placeholder(descriptions):
    broken = {name: lost for name, d in descriptions if (lost := _swallowed(d))}
    assert not broken, broken


def test_dbt_tests_are_described_from_the_test(descriptions):
    by_name = dict(descriptions)
    assert (
        by_name["check kpi/kpi_values:not_null_kpi_values_kpi_id"]
        == "dbt test: kpi/kpi_values.kpi_id is never null; a failure fails the dbt build "
        "and blocks publishing."
    )
    assert (
        "kpi_id is a kpi_id of kpi_definitions"
        in by_name[
            "check kpi/kpi_values:relationships_kpi_values_kpi_id__kpi_id__ref_kpi_definitions_"
        ]
    )
    # The singular test: the comment that opens its SQL.
    assert by_name["check kpi/kpi_definitions:assert_one_current_definition_per_kpi"].startswith(
        "dbt test: Each KPI of the catalog has exactly one definition version in force"
    )
    # The calendar rule exists once, as the configurable GX check.
    calendar = [
        name
        for name, _ in descriptions
        if name.startswith("check") and "calendar" in name.split(":")[-1]
    ]
    assert calendar == ["check kpi/kpi_values:calendar_complete"], calendar


def test_check_descriptions_do_not_carry_the_day_the_definitions_loaded(descriptions):
    from datetime import date

    today = date.today().isoformat()
    dated = [name for name, d in descriptions if today in d]
    assert not dated, dated


def test_no_unserializable_metadata_is_shown():
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    shown = [
        (key.to_user_string(), label)
        for assets_def in repo.asset_graph.assets_defs
        for key, metadata in assets_def.metadata_by_key.items()
        for label, value in metadata.items()
        if "(unserializable)" in str(value) or type(value).__name__ == "DbtProject"
    ]
    assert not shown, shown[:5]
