"""The SQL pieces every rule is built from: literals, and the ``with`` clause over the
batch.

A rule's query reads the validated table as ``{batch}`` (``rules.BATCH``), which GX
replaces with the batch's table; ``_batch_cte`` names it ``batch`` for the CTEs after
it. Values (dates, strings, numbers) enter the SQL as the literals written here.
"""

from __future__ import annotations

from datetime import date

from expectations.rules import BATCH


def _d(value: date) -> str:
    return f"date '{value.isoformat()}'"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _num(value: float) -> str:
    return repr(float(value))


def _with(*ctes: str) -> str:
    return "with " + ",\n".join(ctes)


def _batch_cte() -> str:
    return f"batch as (select * from {BATCH})"
