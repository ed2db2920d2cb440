"""What each dbt data test requires, in one sentence: the description of its Dagster check.

dbt data tests rarely carry a description of their own; without one the UI listed 70-odd
checks as "No description provided".
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg


def dbt_test_description(test: Mapping[str, Any], asset_key: dg.AssetKey) -> str:
    """One sentence saying what a dbt data test requires, from its manifest node."""
    table = asset_key.to_user_string()
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs") or {}
    column = kwargs.get("column_name")
    where = f"{table}.{column}" if column else table
    severity = (test.get("config") or {}).get("severity") or "error"
    effect = (
        "a failure fails the dbt build and blocks publishing."
        if severity.lower() == "error"
        else "a failure is a dbt warning."
    )
    name = meta.get("name")
    if name == "not_null":
        rule = f"{where} is never null"
    elif name == "unique":
        rule = f"{where} holds no value twice"
    elif name == "accepted_values":
        values = ", ".join(str(v) for v in kwargs.get("values") or [])
        rule = f"{where} only holds one of: {values}"
    elif name == "relationships":
        parent = _ref_name(kwargs.get("to") or "")
        rule = f"every {where} is a {kwargs.get('field')} of {parent}"
    elif name == "unique_combination":
        columns = ", ".join(kwargs.get("columns") or [])
        rule = f"{table} holds each combination of ({columns}) once"
    elif name:
        rule = f"{where} passes the {name} test"
    else:
        # A singular test: its SQL opens with a comment saying what it requires.
        header = []
        for line in (test.get("raw_code") or "").splitlines():
            line = line.strip()
            if line.startswith("--"):
                header.append(line.removeprefix("--").strip())
            elif header or (line and not line.startswith("{{")):
                break
        rule = " ".join(header).rstrip(".") or f"{table} passes {test.get('name')}"
    return f"dbt test: {rule}; {effect}"


def _ref_name(value: str) -> str:
    """``ref('dim_customers')`` as written in a test's arguments, as a model name."""
    for quote in ("'", '"'):
        if f"ref({quote}" in value:
            return value.split(f"ref({quote}", 1)[1].split(quote, 1)[0]
    return value
