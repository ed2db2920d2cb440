"""A KPI's target entries are only ever appended: editing one would rewrite past statuses."""

from __future__ import annotations

import copy
import json

from orchestration.kpis import fingerprints


def _with_targets(manifest: dict, kpi_id: str) -> tuple[dict, list[dict]]:
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n["name"] == f"fct_kpi_{kpi_id}")
    return changed, node["config"]["meta"]["kpi"]["targets"]


def test_recorded_target_entries_match_the_registry():
    current = fingerprints.target_entries(fingerprints.load_manifest())
    recorded = json.loads(fingerprints.TARGET_ENTRIES_FILE.read_text())
    assert fingerprints.target_problems(recorded, current) == []
    assert len(current) == 16 and all(len(entries) >= 1 for entries in current.values())


def test_appending_a_dated_entry_is_accepted():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.target_entries(manifest)
    changed, targets = _with_targets(manifest, "ticket_backlog")
    targets.append(
        {"effective_from": "2027-01-01", "target": 60.0, "amber_tolerance": 0.2, "reason": "Plan"}
    )

    assert fingerprints.target_problems(recorded, fingerprints.target_entries(changed)) == []


def test_editing_an_entry_in_place_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.target_entries(manifest)
    changed, targets = _with_targets(manifest, "win_rate")
    targets[0]["target"] = 0.35

    found = fingerprints.target_problems(recorded, fingerprints.target_entries(changed))

    assert len(found) == 1 and found[0].startswith("KPI win_rate's target entry effective from")
    assert "append a new dated entry" in found[0]


def test_removing_an_entry_or_appending_one_out_of_order_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.target_entries(manifest)
    removed, targets = _with_targets(manifest, "defect_rate")
    targets.clear()
    found = fingerprints.target_problems(recorded, fingerprints.target_entries(removed))
    assert any("defect_rate's target entry" in s and "edited or removed" in s for s in found)

    backdated, targets = _with_targets(manifest, "csat_score")
    targets.append(
        {"effective_from": "1999-01-01", "target": 4.0, "amber_tolerance": 0.03, "reason": "x"}
    )
    found = fingerprints.target_problems(recorded, fingerprints.target_entries(backdated))
    assert found == [
        "KPI csat_score's target entries are not in strictly increasing effective_from "
        "order: append a new entry after the last one instead."
    ]


def test_check_fails_on_an_edited_entry(monkeypatch, capsys):
    manifest = fingerprints.load_manifest()
    changed, targets = _with_targets(manifest, "attendance_rate")
    targets[0]["amber_tolerance"] = 0.5
    monkeypatch.setattr(fingerprints, "load_manifest", lambda: changed)

    assert fingerprints.main(["check"]) == 1
    assert "attendance_rate's target entry" in capsys.readouterr().err
    assert fingerprints.main(["update"]) == 1


def test_the_default_target_in_the_definition_is_the_newest_entry():
    # kpi_definitions publishes default_target and amber_tolerance; they must not
    # contradict the dated entries (appending an entry means updating them too).
    from tests.test_kpi_registry import definitions

    for kpi_id, kpi in definitions().items():
        newest = max(kpi["targets"], key=lambda e: str(e["effective_from"]))
        assert newest["target"] == kpi["default_target"], kpi_id
        assert newest["amber_tolerance"] == kpi["amber_tolerance"], kpi_id
