"""Read and validate the goal files, and load them into the warehouse.

Goal files are reviewed YAML in ``<dbt project>/goals/*.yml``, beside the KPI registry::

    objectives:
      - id: on-time-2026
        title: Deliver on time again
        owner: COO
        period: {start: 2026-01-01, end: 2026-12-31}
        key_results:
          - id: on-time-rate
            kpi: on_time_delivery_rate
            slice: {dimension: carrier, value: ups}   # optional
            start: 0.80
            target: 0.95
            due: 2026-12-31
            milestones:
              - {date: 2026-06-30, expected: 0.88}

A file that does not follow this shape, or refers to a KPI the registry does not define or
to a slice whose dimension is not one of the KPI's, is refused with one sentence naming the
file and the line. The warehouse computes progress from the loaded rows (kpi.goal_progress).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from reports.registry import REGISTRY_PATH, load_registry

GOALS_SCHEMA = "raw_goals"

_OBJECTIVE_KEYS = {"id", "title", "owner", "period", "key_results"}
_KEY_RESULT_KEYS = {"id", "title", "kpi", "slice", "start", "target", "due", "milestones"}
_MILESTONE_KEYS = {"date", "expected", "title"}

KEY_RESULTS_DDL = f"""
create or replace table {GOALS_SCHEMA}.key_results (
    goal_file varchar not null,
    line integer not null,
    objective_id varchar not null,
    objective_title varchar not null,
    objective_owner varchar not null,
    period_start date not null,
    period_end date not null,
    key_result_id varchar not null,
    key_result_title varchar,
    kpi_id varchar not null,
    dimension varchar not null,
    dimension_value varchar not null,
    start_value double not null,
    target_value double not null,
    due_date date not null
)"""

MILESTONES_DDL = f"""
create or replace table {GOALS_SCHEMA}.milestones (
    goal_file varchar not null,
    line integer not null,
    objective_id varchar not null,
    key_result_id varchar not null,
    milestone_date date not null,
    expected_value double not null,
    milestone_title varchar
)"""


class GoalFileError(ValueError):
    """A goal file that cannot be loaded; the message names the file and the line."""


class _Mapping(dict):
    """A YAML mapping that remembers where it and each of its keys start."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    mapping = _Mapping(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Milestone:
    line: int
    date: dt.date
    expected: float
    title: str | None


@dataclass
class KeyResult:
    line: int
    id: str
    title: str | None
    kpi_id: str
    dimension: str
    dimension_value: str
    start: float
    target: float
    due: dt.date
    milestones: list[Milestone] = field(default_factory=list)


@dataclass
class Objective:
    goal_file: str
    line: int
    id: str
    title: str
    owner: str
    period_start: dt.date
    period_end: dt.date
    key_results: list[KeyResult] = field(default_factory=list)


def registry_dimensions(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, set[str]]:
    """KPI id → the dimensions it can be sliced by, from the KPI registry."""
    return {
        kpi_id: {d.strip() for d in (kpi.get("dimensions") or "").split(",") if d}
        for kpi_id, kpi in load_registry(project_dir / REGISTRY_PATH).items()
    }


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


class _File:
    """Checks on one file, each failing with the file and the line."""

    def __init__(self, path: Path):
        self.name = _display(path)

    def fail(self, line: int, what: str) -> GoalFileError:
        return GoalFileError(f"Goal file {self.name}, line {line}: {what}.")

    def mapping(self, value, line: int, what: str, allowed: set[str]) -> _Mapping:
        if not isinstance(value, _Mapping):
            raise self.fail(line, f"{what} must be a mapping")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                value.line_of(unknown[0]),
                f"{what} has the unknown key {unknown[0]!r} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
        return value

    def required(self, mapping: _Mapping, key: str, what: str, kind: type | tuple):
        if key not in mapping or mapping[key] is None:
            raise self.fail(mapping.line, f"{what} has no {key!r}")
        value = mapping[key]
        # YAML reads true/false as booleans, which are ints to Python.
        if not isinstance(value, kind) or isinstance(value, bool):
            names = {
                str: "text",
                dt.date: "a date (YYYY-MM-DD)",
                (int, float): "a number",
                (str, int): "text",
            }
            raise self.fail(mapping.line_of(key), f"{what}'s {key!r} must be {names[kind]}")
        return value

    def sequence(self, value, line: int, what: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(line, f"{what} must be a non-empty list")
        return value


_NUMBER = (int, float)


def parse_goal_file(path: Path, registry: dict[str, set[str]]) -> list[Objective]:
    """The objectives of one goal file, validated against the KPI registry."""
    checks = _File(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise checks.fail(line, f"the YAML does not parse ({exc.problem})") from exc
    top = checks.mapping(document, 1, "the file", {"objectives"})
    line = top.line_of("objectives")
    return [
        _objective(checks, checks.mapping(obj, line, "an objective", _OBJECTIVE_KEYS), registry)
        for obj in checks.sequence(top.get("objectives"), line, "objectives")
    ]


def _objective(checks: _File, obj: _Mapping, registry: dict[str, set[str]]) -> Objective:
    obj_id = checks.required(obj, "id", "the objective", str)
    what = f"objective {obj_id!r}"
    period = checks.mapping(
        obj.get("period"), obj.line_of("period"), f"{what}'s period", {"start", "end"}
    )
    start = checks.required(period, "start", f"{what}'s period", dt.date)
    end = checks.required(period, "end", f"{what}'s period", dt.date)
    if end < start:
        raise checks.fail(period.line_of("end"), f"{what}'s period ends before it starts")
    objective = Objective(
        goal_file=checks.name,
        line=obj.line,
        id=obj_id,
        title=checks.required(obj, "title", what, str),
        owner=checks.required(obj, "owner", what, str),
        period_start=start,
        period_end=end,
    )
    line = obj.line_of("key_results")
    for kr in checks.sequence(obj.get("key_results"), line, f"{what}'s key_results"):
        kr = checks.mapping(kr, line, f"a key result of {what}", _KEY_RESULT_KEYS)
        key_result = _key_result(checks, kr, what, registry)
        if any(k.id == key_result.id for k in objective.key_results):
            raise checks.fail(
                kr.line_of("id"), f"key result {key_result.id!r} of {what} is listed twice"
            )
        objective.key_results.append(key_result)
    return objective


def _key_result(
    checks: _File, kr: _Mapping, objective: str, registry: dict[str, set[str]]
) -> KeyResult:
    kr_id = checks.required(kr, "id", f"a key result of {objective}", str)
    what = f"key result {kr_id!r} of {objective}"
    kpi_id = checks.required(kr, "kpi", what, str)
    if kpi_id not in registry:
        raise checks.fail(
            kr.line_of("kpi"),
            f"{what} refers to the KPI {kpi_id!r}, which the KPI registry does not define",
        )
    dimension, value = "all", "all"
    if kr.get("slice") is not None:
        piece = checks.mapping(
            kr["slice"], kr.line_of("slice"), f"{what}'s slice", {"dimension", "value"}
        )
        dimension = checks.required(piece, "dimension", f"{what}'s slice", str)
        value = str(checks.required(piece, "value", f"{what}'s slice", (str, int)))
        if dimension not in registry[kpi_id]:
            known = ", ".join(sorted(registry[kpi_id])) or "none"
            raise checks.fail(
                piece.line_of("dimension"),
                f"{what} slices {kpi_id} by {dimension!r}, which is not one of its "
                f"dimensions ({known})",
            )
    start = float(checks.required(kr, "start", what, _NUMBER))
    target = float(checks.required(kr, "target", what, _NUMBER))
    if start == target:
        raise checks.fail(kr.line_of("target"), f"{what} has its target equal to its start")
    key_result = KeyResult(
        line=kr.line,
        id=kr_id,
        title=_optional_text(checks, kr, "title", what),
        kpi_id=kpi_id,
        dimension=dimension,
        dimension_value=value,
        start=start,
        target=target,
        due=checks.required(kr, "due", what, dt.date),
    )
    if kr.get("milestones") is None:
        return key_result
    line = kr.line_of("milestones")
    for ms in checks.sequence(kr["milestones"], line, f"{what}'s milestones"):
        ms = checks.mapping(ms, line, f"a milestone of {what}", _MILESTONE_KEYS)
        date = checks.required(ms, "date", f"a milestone of {what}", dt.date)
        if any(m.date == date for m in key_result.milestones):
            raise checks.fail(ms.line_of("date"), f"{what} has two milestones on {date}")
        expected = checks.required(ms, "expected", f"the milestone of {what} on {date}", _NUMBER)
        key_result.milestones.append(
            Milestone(
                line=ms.line,
                date=date,
                expected=float(expected),
                title=_optional_text(checks, ms, "title", f"the milestone of {what} on {date}"),
            )
        )
    return key_result


def _optional_text(checks: _File, mapping: _Mapping, key: str, what: str) -> str | None:
    return None if mapping.get(key) is None else checks.required(mapping, key, what, str)


def load_goals(project_dir: Path = DBT_PROJECT_DIR) -> list[Objective]:
    """Every objective of the project's goal files (``goals/*.yml``), validated."""
    registry = registry_dimensions(project_dir)
    objectives: list[Objective] = []
    for path in sorted((project_dir / "goals").glob("*.y*ml")):
        for objective in parse_goal_file(path, registry):
            twin = next((o for o in objectives if o.id == objective.id), None)
            if twin is not None:
                raise _File(path).fail(
                    objective.line,
                    f"objective {objective.id!r} is already defined in {twin.goal_file}, "
                    f"line {twin.line}",
                )
            objectives.append(objective)
    return objectives


def write_goals(con: duckdb.DuckDBPyConnection, objectives: list[Objective]) -> tuple[int, int]:
    """Replace ``raw_goals.key_results`` and ``raw_goals.milestones``; (key results, milestones)."""
    key_results = [
        (o.goal_file, k.line, o.id, o.title, o.owner, o.period_start, o.period_end, k.id, k.title,
         k.kpi_id, k.dimension, k.dimension_value, k.start, k.target, k.due)
        for o in objectives for k in o.key_results
    ]  # fmt: skip
    milestones = [
        (o.goal_file, m.line, o.id, k.id, m.date, m.expected, m.title)
        for o in objectives for k in o.key_results for m in k.milestones
    ]  # fmt: skip
    con.execute("begin")
    try:
        con.execute(f"create schema if not exists {GOALS_SCHEMA}")
        con.execute(KEY_RESULTS_DDL)
        con.execute(MILESTONES_DDL)
        if key_results:
            con.executemany(
                f"insert into {GOALS_SCHEMA}.key_results values ({', '.join(['?'] * 15)})",
                key_results,
            )
        if milestones:
            con.executemany(
                f"insert into {GOALS_SCHEMA}.milestones values ({', '.join(['?'] * 7)})", milestones
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return len(key_results), len(milestones)
