"""A KPI's computation cannot change without a new definition version."""

from __future__ import annotations

import copy
import json

from orchestration.kpis import fingerprints


def test_recorded_fingerprints_match_the_definitions():
    current = fingerprints.compute(fingerprints.load_manifest())
    recorded = json.loads(fingerprints.FINGERPRINTS_FILE.read_text())
    assert fingerprints.problems(recorded, current) == []
    assert len(current) == 16


def test_a_change_upstream_without_a_version_bump_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    orders = next(n for n in changed["nodes"].values() if n["name"] == "fct_orders")
    orders["raw_code"] = orders["raw_code"].replace("coalesce(order_lines.discount_amount, 0)", "0")

    found = fingerprints.problems(recorded, fingerprints.compute(changed))

    flagged = sorted(s.split()[1] for s in found)
    assert flagged == ["average_order_value", "gross_margin_rate", "revenue"]


def test_reformatting_and_comments_are_not_a_change():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n["name"] == "fct_kpi_win_rate")
    node["raw_code"] = "-- a new comment\n" + node["raw_code"].replace("\n", "\n\n  ")

    assert fingerprints.problems(recorded, fingerprints.compute(changed)) == []


def test_a_bumped_version_is_accepted():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n["name"] == "fct_kpi_defect_rate")
    node["raw_code"] = node["raw_code"].replace("units_defective as numerator", "0 as numerator")
    versions = node["config"]["meta"]["kpi"]["versions"]
    versions.append({"version": 2, "effective_from": "2027-01-01", "formula": "changed"})

    assert fingerprints.problems(recorded, fingerprints.compute(changed)) == []
