"""Guard KPI definition versions: a computation change must come with a new version.

A KPI's fingerprint is a hash of the SQL that computes it: its ``fct_kpi_<id>`` model,
every model upstream of it and every macro they use, with comments and white space
removed (so reformatting is not a change). A KPI that is also a MetricFlow metric has a
second one, ``semantic_fingerprint``: its metric and the metrics it uses, the semantic
models that hold their measures (entities, dimensions, measures) and the SQL upstream of
those (models/semantic), so the semantic layer cannot drift from a definition version
either. ``kpi_fingerprints.json`` in the dbt project
records, per KPI, the fingerprint of its current definition version. ``check`` fails
when a fingerprint moved while the version did not; ``update`` records the new
fingerprints, and refuses to do so for a KPI whose version was not bumped.

Targets are governed the same way: ``kpi_target_entries.json`` records each KPI's dated
target entries (config.meta.kpi.targets). A new entry may only be appended, with an
``effective_from`` after the last one; ``check`` fails, and ``update`` refuses, when a
recorded entry was edited or removed, because that would rewrite past statuses.

    python -m orchestration.kpis.fingerprints check
    python -m orchestration.kpis.fingerprints update
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR

FINGERPRINTS_FILE = DBT_PROJECT_DIR / "kpi_fingerprints.json"
TARGET_ENTRIES_FILE = DBT_PROJECT_DIR / "kpi_target_entries.json"
KPI_MODEL_PREFIX = "fct_kpi_"

_SQL_COMMENT = re.compile(r"--[^\n]*")
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_SPACE = re.compile(r"\s+")
# How a model is materialised and how much of it a run recomputes do not change what it
# computes (an incremental build equals a full one, tests/test_incremental_equality.py):
# its config() call, its is_incremental() blocks (but for their else branch, the full
# build) and the incremental macros (macros/incremental.sql) are left out of the
# fingerprint.
_BUILD_ONLY_MACROS = (
    "changed_keys_only",
    "incremental_by_key",
    "orders_to_recompute",
    "last_build_loaded_through",
    "raw_relation",
    "delete_keys_not_in",
    "kpi_changes_relation",
    "orders_recompute_relation",
    "record_order_changes",
    "drop_orders_recompute",
    "kpi_changed_from",
    "kpi_first_changed_period",
    "delete_changed_periods",
    "kpi_flow_from_days",
)
_BUILD_ONLY_CALL = re.compile(
    r"\{\{-?\s*(?:config|" + "|".join(_BUILD_ONLY_MACROS) + r")\s*\(.*?\)\s*-?\}\}",
    re.DOTALL,
)
# An is_incremental() block goes; where it has an else branch, that branch (the full
# build's code) stays.
_INCREMENTAL_BLOCK = re.compile(
    r"\{%-?\s*if\s+is_incremental\(\)\s*-?%\}.*?"
    r"(?:\{%-?\s*else\s*-?%\}(?P<full>.*?))?\{%-?\s*endif\s*-?%\}",
    re.DOTALL,
)


def _normalise(code: str) -> str:
    code = _JINJA_COMMENT.sub(" ", code)
    code = _SQL_COMMENT.sub(" ", code)
    code = _BUILD_ONLY_CALL.sub(" ", code)
    code = _INCREMENTAL_BLOCK.sub(lambda m: f" {m.group('full') or ''} ", code)
    return _SPACE.sub(" ", code).strip()


def _build_only(macro_uid: str) -> bool:
    name = macro_uid.rsplit(".", 1)[-1]
    return any(name == m or name.endswith("__" + m) for m in _BUILD_ONLY_MACROS)


def _kpi_nodes(manifest: dict) -> dict[str, dict]:
    """KPI id → its model node, for every model that carries a governed definition."""
    found = {}
    for node in manifest["nodes"].values():
        kpi = node.get("config", {}).get("meta", {}).get("kpi")
        if node["resource_type"] == "model" and kpi:
            found[kpi["id"]] = node
    return found


def _semantic_fingerprint(manifest: dict, kpi_id: str) -> dict | None:
    """The fingerprint of the MetricFlow definition of a KPI, or None without a metric."""
    metrics = manifest.get("metrics", {})
    semantic_models = manifest.get("semantic_models", {})
    start = f"metric.kpi_warehouse.{kpi_id}"
    if start not in metrics:
        return None
    seen_metrics: set[str] = set()
    stack = [start]
    while stack:
        uid = stack.pop()
        if uid in seen_metrics or uid not in metrics:
            continue
        seen_metrics.add(uid)
        stack.extend(metrics[uid]["depends_on"].get("nodes", []))
    measures = {
        m["name"]
        for uid in seen_metrics
        for m in metrics[uid]["type_params"].get("input_measures") or []
    }
    used_models = sorted(
        uid
        for uid, model in semantic_models.items()
        if measures & {m["name"] for m in model["measures"]}
    )
    digest = hashlib.sha256()
    for uid in sorted(seen_metrics):
        metric = metrics[uid]
        definition = {k: metric.get(k) for k in ("type", "type_params", "filter")}
        digest.update(uid.encode() + b"\0" + json.dumps(definition, sort_keys=True).encode())
    upstream: set[str] = set()
    for uid in used_models:
        model = semantic_models[uid]
        definition = {
            "node_relation": model["node_relation"],
            "defaults": model["defaults"],
            "entities": [
                {k: e.get(k) for k in ("name", "type", "expr")} for e in model["entities"]
            ],
            "dimensions": [
                {k: d.get(k) for k in ("name", "type", "expr", "type_params", "is_partition")}
                for d in model["dimensions"]
            ],
            "measures": [
                {
                    k: m.get(k)
                    for k in (
                        "name",
                        "agg",
                        "expr",
                        "agg_params",
                        "agg_time_dimension",
                        "non_additive_dimension",
                    )
                }
                for m in model["measures"]
            ],
        }
        # Where a model's SQL lives is not what it computes: the database (and the
        # relation name that holds it) is the warehouse file's name, KPI_WAREHOUSE_PATH.
        definition["node_relation"] = {
            k: v
            for k, v in (definition["node_relation"] or {}).items()
            if k not in ("database", "relation_name")
        }
        digest.update(uid.encode() + b"\0" + json.dumps(definition, sort_keys=True).encode())
        upstream.update(model["depends_on"].get("nodes", []))
    nodes, code_digest = _upstream_digest(manifest, sorted(upstream))
    digest.update(code_digest.encode())
    return {
        "semantic_fingerprint": digest.hexdigest(),
        "semantic_models": sorted(semantic_models[uid]["name"] for uid in used_models)
        + sorted(nodes),
    }


def _upstream_digest(manifest: dict, start: list[str]) -> tuple[list[str], str]:
    """The names of the models from ``start`` up, and a hash of their SQL and macros."""
    nodes = manifest["nodes"]
    macros = manifest["macros"]
    seen_nodes: set[str] = set()
    seen_macros: set[str] = set()
    stack = list(start)
    while stack:
        uid = stack.pop()
        if uid in seen_nodes or uid not in nodes:
            continue
        seen_nodes.add(uid)
        stack.extend(nodes[uid]["depends_on"].get("nodes", []))
        seen_macros.update(nodes[uid]["depends_on"].get("macros", []))
    macro_stack = list(seen_macros)
    while macro_stack:
        uid = macro_stack.pop()
        for dep in macros.get(uid, {}).get("depends_on", {}).get("macros", []):
            if dep not in seen_macros:
                seen_macros.add(dep)
                macro_stack.append(dep)
    digest = hashlib.sha256()
    for uid in sorted(seen_nodes):
        digest.update(uid.encode() + b"\0" + _normalise(nodes[uid]["raw_code"]).encode() + b"\0")
    for uid in sorted(seen_macros):
        # Only the project's own macros: adapter internals change with dbt releases.
        if uid.startswith("macro.kpi_warehouse.") and not _build_only(uid):
            digest.update(uid.encode() + b"\0" + _normalise(macros[uid]["macro_sql"]).encode())
    return [nodes[uid]["name"] for uid in seen_nodes], digest.hexdigest()


def compute(manifest: dict) -> dict[str, dict]:
    """KPI id → {definition_version, fingerprint, models} from a dbt manifest."""
    result = {}
    for kpi_id, node in sorted(_kpi_nodes(manifest).items()):
        models, fingerprint = _upstream_digest(manifest, [node["unique_id"]])
        versions = node["config"]["meta"]["kpi"]["versions"]
        result[kpi_id] = {
            "definition_version": max(v["version"] for v in versions),
            "fingerprint": fingerprint,
            "models": sorted(models),
        }
        semantic = _semantic_fingerprint(manifest, kpi_id)
        if semantic:
            result[kpi_id].update(semantic)
    return result


def target_entries(manifest: dict) -> dict[str, list[dict]]:
    """KPI id → its dated target entries as recorded: the entry and a hash of it."""
    result = {}
    for kpi_id, node in sorted(_kpi_nodes(manifest).items()):
        entries = []
        for entry in node["config"]["meta"]["kpi"].get("targets") or []:
            canonical = {
                "effective_from": str(entry.get("effective_from")),
                "target": entry.get("target"),
                "amber_tolerance": entry.get("amber_tolerance"),
                "reason": entry.get("reason"),
            }
            digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
            entries.append({**canonical, "sha256": digest})
        result[kpi_id] = entries
    return result


def target_problems(recorded: dict, current: dict) -> list[str]:
    """Sentences describing every target entry edited, removed or appended out of order."""
    found = []
    for kpi_id, now in current.items():
        dates = [e["effective_from"] for e in now]
        if not now:
            found.append(f"KPI {kpi_id} has no dated target entries in config.meta.kpi.targets.")
        elif dates != sorted(set(dates)):
            found.append(
                f"KPI {kpi_id}'s target entries are not in strictly increasing effective_from "
                "order: append a new entry after the last one instead."
            )
        before = recorded.get(kpi_id)
        if before is None:
            found.append(f"KPI {kpi_id} has no recorded target entries; run the update.")
            continue
        for i, old in enumerate(before):
            if i >= len(now) or now[i]["sha256"] != old["sha256"]:
                found.append(
                    f"KPI {kpi_id}'s target entry effective from {old['effective_from']} was "
                    "edited or removed, which would change past statuses: restore it and "
                    "append a new dated entry instead."
                )
                break
    return found


def load_manifest() -> dict:
    from orchestration.kpis.project import ensure_manifest

    return json.loads(Path(ensure_manifest()).read_text())


def problems(recorded: dict, current: dict) -> list[str]:
    """Sentences describing every KPI whose computation changed without a new version."""
    found = []
    for kpi_id, now in current.items():
        before = recorded.get(kpi_id)
        if before is None:
            found.append(f"KPI {kpi_id} has no recorded fingerprint; run the update.")
        elif now["definition_version"] < before["definition_version"]:
            found.append(
                f"KPI {kpi_id} went back from version {before['definition_version']} "
                f"to {now['definition_version']}."
            )
        elif (
            now["fingerprint"] != before["fingerprint"]
            and now["definition_version"] == before["definition_version"]
        ):
            found.append(
                f"KPI {kpi_id} is computed differently (models: {', '.join(now['models'])}) "
                f"but is still definition version {now['definition_version']}: add a version "
                "with its formula and effective_from to config.meta.kpi.versions, then run "
                "the update."
            )
        elif now.get("semantic_fingerprint") and not before.get("semantic_fingerprint"):
            found.append(f"KPI {kpi_id} has no recorded semantic fingerprint; run the update.")
        elif (
            before.get("semantic_fingerprint")
            and now.get("semantic_fingerprint") != before["semantic_fingerprint"]
            and now["definition_version"] == before["definition_version"]
        ):
            found.append(
                f"KPI {kpi_id} is computed differently in the semantic layer (semantic models "
                f"and models: {', '.join(now.get('semantic_models', []))}) but is still "
                f"definition version {now['definition_version']}: add a version with its "
                "formula and effective_from to config.meta.kpi.versions, then run the update."
            )
    for kpi_id in recorded.keys() - current.keys():
        found.append(f"KPI {kpi_id} is recorded but no model defines it any more.")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "check"
    manifest = load_manifest()
    current = compute(manifest)
    recorded = json.loads(FINGERPRINTS_FILE.read_text()) if FINGERPRINTS_FILE.exists() else {}
    targets_now = target_entries(manifest)
    targets_recorded = (
        json.loads(TARGET_ENTRIES_FILE.read_text()) if TARGET_ENTRIES_FILE.exists() else {}
    )
    target_found = target_problems(targets_recorded, targets_now)
    if command == "check":
        found = problems(recorded, current) + target_found
        for sentence in found:
            print(f"error: {sentence}", file=sys.stderr)
        if not found:
            print(f"{len(current)} KPI fingerprints match their definition versions.")
        return 1 if found else 0
    if command == "update":
        blocked = [
            s
            for s in problems(recorded, current)
            if "is computed differently" in s or "went back" in s
        ] + [s for s in target_found if "no recorded target entries" not in s]
        if blocked:
            for sentence in blocked:
                print(f"error: {sentence}", file=sys.stderr)
            return 1
        FINGERPRINTS_FILE.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        TARGET_ENTRIES_FILE.write_text(json.dumps(targets_now, indent=2, sort_keys=True) + "\n")
        print(f"recorded {len(current)} KPI fingerprints in {FINGERPRINTS_FILE}")
        return 0
    print("usage: python -m orchestration.kpis.fingerprints [check|update]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
