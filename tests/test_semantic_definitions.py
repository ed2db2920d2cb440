"""The semantic layer is generated from the KPI registry, and versioned with it."""

from __future__ import annotations

import copy

import pytest
import yaml

from orchestration.kpis import fingerprints, semantic


def test_the_committed_semantic_yaml_is_what_the_registry_generates():
    assert semantic.SEMANTIC_FILE.read_text() == semantic.render(), (
        "models/semantic/_semantic__models.yml is stale: "
        "run python -m orchestration.kpis.semantic write"
    )
    assert semantic.main(["check"]) == 0


def test_what_a_reader_sees_comes_from_the_registry():
    registry = semantic.load_registry()
    changed = copy.deepcopy(registry)
    changed["win_rate"]["owner"] = "Chief Revenue Officer"
    changed["win_rate"]["name"] = "Deal win rate"

    metric = next(m for m in semantic.generate(changed)["metrics"] if m["name"] == "win_rate")

    assert metric["label"] == "Deal win rate"
    assert metric["config"]["meta"]["kpi"]["owner"] == "Chief Revenue Officer"
    assert semantic.render(changed) != semantic.SEMANTIC_FILE.read_text()


def test_every_metric_carries_its_registry_definition():
    registry = semantic.load_registry()
    document = yaml.safe_load(semantic.SEMANTIC_FILE.read_text())
    metrics = {m["name"]: m for m in document["metrics"]}
    for kpi_id, kpi in registry.items():
        if kpi_id in semantic.NOT_EXPRESSIBLE:
            assert kpi_id not in metrics
            continue
        metric = metrics[kpi_id]
        version = max(kpi["versions"], key=lambda v: v["version"])
        meta = metric["config"]["meta"]["kpi"]
        assert metric["label"] == kpi["name"]
        assert metric["description"].startswith(kpi["description"])
        assert version["formula"] in metric["description"]
        assert (meta["owner"], meta["unit"], meta["direction"]) == (
            kpi["owner"],
            kpi["unit"],
            kpi["direction"],
        )
        assert meta["definition_version"] == version["version"]
        assert set(meta["slices"]) == {d.strip() for d in kpi["dimensions"].split(",")}


def test_a_registry_slice_without_a_semantic_dimension_is_refused():
    registry = copy.deepcopy(semantic.load_registry())
    registry["defect_rate"]["dimensions"] = "plant,shift"
    with pytest.raises(ValueError, match="defect_rate is sliced by shift"):
        semantic.generate(registry)


def test_a_new_kpi_must_be_a_metric_or_documented_as_not_expressible():
    registry = copy.deepcopy(semantic.load_registry())
    registry["churned_revenue"] = copy.deepcopy(registry["revenue"])
    with pytest.raises(ValueError, match="churned_revenue is neither a metric"):
        semantic.generate(registry)


def test_the_dbt_manifest_holds_a_metric_per_expressible_kpi_and_a_day_time_spine():
    manifest = fingerprints.load_manifest()
    names = {m["name"] for m in manifest["metrics"].values()}
    assert set(semantic.KPI_METRICS) <= names
    assert not set(semantic.NOT_EXPRESSIBLE) & names
    spine = next(n for n in manifest["nodes"].values() if n["name"] == semantic.TIME_SPINE_MODEL)
    assert spine["time_spine"]["standard_granularity_column"] == "date_day"


def test_a_semantic_change_without_a_version_bump_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    view = next(n for n in changed["nodes"].values() if n["name"] == "sem_ticket_resolutions")
    view["raw_code"] = view["raw_code"].replace("<= sla_policies.resolution_hours", "< 0 *")

    found = fingerprints.problems(recorded, fingerprints.compute(changed))

    assert sorted(s.split()[1] for s in found) == ["csat_score", "sla_compliance_rate"]
    assert all("in the semantic layer" in s for s in found)


def test_a_measure_change_without_a_version_bump_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    model = changed["semantic_models"]["semantic_model.kpi_warehouse.production_runs"]
    measure = next(m for m in model["measures"] if m["name"] == "units_defective")
    measure["agg"] = "max"

    found = fingerprints.problems(recorded, fingerprints.compute(changed))

    assert [s.split()[1] for s in found] == ["defect_rate"]
