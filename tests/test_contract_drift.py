"""The landing contract is written once: what restates it must agree with it.

``expectations/contract.py`` is the contract. Its document (``docs/landing-contract.md``)
is generated from it; the dbt sources of the raw tables, the as-of anchors of
``int_as_of.sql``, the as-of models' dates and the demo generator's values each restate
a part of it, and these tests fail when one of them drifts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from expectations import contract, contract_doc
from expectations.contract import ENTITIES, SYSTEMS

ROOT = Path(__file__).resolve().parent.parent
DBT = ROOT / "dbt_project"
# The demo generator: its package's modules (the values are in business.py, the records
# of each system in crm.py, sales.py, ops.py and reference.py).
GENERATOR = sorted((ROOT / "orchestration" / "demo").glob("*.py"))

# The dbt data_type of each contract type (the DuckDB type it is stored as).
DBT_TYPES = {t: sql.lower() for t, sql in contract.SQL_TYPES.items()}
PRESENCE = {"key": "Primary key", "req": "Required", "opt": "Nullable"}
TYPE_WORDS = {
    "text": "text",
    "ts": "UTC timestamp",
    "date": "date",
    "decimal": "decimal",
    "integer": "integer",
    "boolean": "boolean",
}
RULE_KINDS = {
    "not_before",
    "non_negative",
    "positive",
    "between",
    "at_most",
    "present_when",
    "first_of_month",
    "in_unit_interval",
}


# --- the document ---------------------------------------------------------------------------


def test_the_contract_page_is_what_the_contract_generates():
    text = contract_doc.DOC_FILE.read_text(encoding="utf-8")
    assert text == contract_doc.render(), (
        "docs/landing-contract.md is stale: python -m expectations.contract_doc write"
    )
    assert contract_doc.main(["check"]) == 0


def test_the_contract_page_names_every_entity_column_and_rule():
    text = contract_doc.DOC_FILE.read_text(encoding="utf-8")
    sections = {s.split("\n", 1)[0]: s for s in text.split("\n### ")[1:]}
    for entity in ENTITIES:
        section = sections[entity.qualified_name]
        for column in entity.columns:
            assert f"| `{column.name}` |" in section, (entity.qualified_name, column.name)
        for rule in entity.rules:
            assert f"**{rule.name}**" in section, (entity.qualified_name, rule.name)
        if entity.anchor:
            assert f"**Anchor date**: `{entity.anchor}`" in section, entity.qualified_name
        for fk in entity.foreign_keys:
            assert f"`{fk.column}` → {fk.parent}." in section, entity.qualified_name


def test_every_rule_states_its_shape():
    # The demo generator breaks a rule, and the page words it, by its kind: neither
    # parses the SQL.
    for entity in ENTITIES:
        for rule in entity.rules:
            assert rule.kind in RULE_KINDS, (entity.qualified_name, rule.name)
            two = rule.kind in ("not_before", "at_most", "present_when")
            named = rule.columns[:2] if two else rule.columns[:1]
            assert named and set(named) <= {c.name for c in entity.columns}, rule.name


def test_the_dates_and_foreign_keys_name_contract_columns():
    by_name = {e.qualified_name: e for e in ENTITIES}
    for entity in ENTITIES:
        names = {c.name for c in entity.columns}
        assert {entity.anchor, *entity.events} - {None} <= names, entity.qualified_name
        if entity.dated_by:
            assert entity.anchor is None and by_name[entity.dated_by].anchor
        for fk in entity.foreign_keys:
            assert fk.column in names, entity.qualified_name
            assert by_name[fk.parent].key == (fk.parent_column,), entity.qualified_name


# --- the dbt sources ------------------------------------------------------------------------


def dbt_sources() -> dict[tuple[str, str], dict]:
    """Every source table of the staging layer, keyed by (source name, table name)."""
    tables = {}
    for path in sorted((DBT / "models" / "staging").glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source.get("tables") or []:
                tables[(source["name"], table["name"])] = {**table, "_source": source}
    return tables


def column_description(column: contract.Column) -> str:
    what = f"one of {', '.join(column.values)}" if column.values else TYPE_WORDS[column.type]
    return f"{PRESENCE[column.presence]} ({what})."


def test_every_contract_entity_has_its_dbt_source_with_the_contracts_columns():
    sources = dbt_sources()
    for entity in ENTITIES:
        table = sources.get((entity.system, entity.name))
        assert table is not None, f"no dbt source table for {entity.qualified_name}"
        assert table["_source"].get("schema") == f"raw_{entity.system}", entity.qualified_name
        assert table.get("description", "").startswith(entity.description), entity.qualified_name
        declared = table.get("columns") or []
        assert [c["name"] for c in declared] == [c.name for c in entity.columns], (
            entity.qualified_name
        )
        for column, yml in zip(entity.columns, declared, strict=True):
            where = f"{entity.qualified_name}.{column.name}"
            if "data_type" in yml:
                assert yml["data_type"].lower() == DBT_TYPES[column.type], where
            assert (yml.get("description") or "").startswith(column_description(column)), where


def test_every_landing_source_table_is_a_contract_entity():
    entities = {(e.system, e.name) for e in ENTITIES}
    landing = {key for key in dbt_sources() if key[0] in SYSTEMS}
    assert landing == entities


# --- the as-of anchors ------------------------------------------------------------------------


def test_the_as_of_anchors_are_the_contracts():
    sql = (DBT / "models" / "intermediate" / "int_as_of.sql").read_text(encoding="utf-8")
    found = re.findall(r"\('stg_([a-z]+)__([a-z_]+)',\s*'([a-z_]+)'\)", sql)
    assert found
    for system, name, column in found:
        assert contract.entity(system, name).anchor == column, (system, name, column)


def test_each_as_of_model_keeps_its_entitys_anchor_and_cuts_off_its_later_dates():
    """The ten ``int_<entity>__as_of`` models restate the contract's dates.

    Each keeps the rows whose anchor is on or before the as-of date, and reads a later
    timestamp as null until it has happened (``before_cutoff``): every event date the
    contract names is cut off, and what is cut off is a timestamp of the entity.
    """
    models = sorted((DBT / "models" / "intermediate").glob("int_*__as_of.sql"))
    assert len(models) == 10
    for path in models:
        sql = path.read_text(encoding="utf-8")
        system, name = re.search(r"ref\('stg_([a-z]+)__([a-z_]+)'\)", sql).groups()
        assert path.name == f"int_{name}__as_of.sql"
        entity = contract.entity(system, name)
        anchor = re.search(r"where source_rows\.([a-z_]+) <=? as_of\.", sql).group(1)
        assert anchor == entity.anchor, (path.name, anchor, entity.anchor)
        cut_off = set(re.findall(r"before_cutoff\('source_rows\.([a-z_]+)'\)", sql))
        timestamps = {c.name for c in entity.columns if c.type == "ts"} - {entity.anchor}
        assert set(entity.events) <= cut_off, (path.name, entity.events, cut_off)
        assert cut_off <= timestamps, (path.name, cut_off - timestamps)


# --- the demo generator -----------------------------------------------------------------------


def _enums() -> dict[str, set[str]]:
    """Each enum column name and the values the contract allows it, over all entities."""
    found: dict[str, set[str]] = {}
    for entity in ENTITIES:
        for column in entity.columns:
            if column.values:
                found.setdefault(column.name, set()).update(column.values)
    return found


def _string_tuple(node: ast.AST) -> tuple[str, ...] | None:
    if not isinstance(node, ast.Tuple | ast.List) or not node.elts:
        return None
    if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return tuple(e.value for e in node.elts)
    return None


def test_the_generator_keeps_no_copy_of_an_enum():
    # It imports the allowed values from the contract; a literal list of them would drift.
    enums = {frozenset(c.values) for e in ENTITIES for c in e.columns if len(c.values) > 1}
    copies = [
        (path.name, node.lineno, values)
        for path in GENERATOR
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (values := _string_tuple(node)) and frozenset(values) in enums
    ]
    assert copies == []


def test_the_generators_enum_values_are_the_contracts():
    from orchestration.demo import business as generator

    # Values it picks from literals (a state machine's steps) are allowed values.
    enums = _enums()
    picked = []
    nodes = [n for p in GENERATOR for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))]
    for node in nodes:
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and key.value in enums
                and isinstance(value, ast.Call)
                and getattr(value.func, "id", None) == "_pick"
                and (values := _string_tuple(value.args[0]))
            ):
                picked.append((key.value, values))
                assert set(values) <= enums[key.value], (key.value, values)
    assert {name for name, _ in picked} >= {"status"}
    # The service catalog's tiers.
    assert {service[2] for service in generator._SERVICES} <= set(contract.TIERS)
    # The mixes are given per allowed value, in the contract's order.
    assert len(generator._SEGMENT_SHARE) == len(contract.SEGMENTS)
    assert len(generator._LEAD_SOURCE_SHARE) == len(contract.LEAD_SOURCES)
    assert len(generator._PRIORITY_SHARE) == len(contract.PRIORITIES)
    assert len(generator._TICKET_CHANNEL_SHARE) == len(contract.TICKET_CHANNELS)
    assert generator.ORDER_CHANNEL_SHARE.shape[1] == len(contract.ORDER_CHANNELS)
