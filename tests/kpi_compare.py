"""Compare two builds of kpi.kpi_values (one engine against another), row by row."""

from __future__ import annotations

import math

import pandas as pd

KEY = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]
FLOATS = ["numerator", "denominator", "value", "target", "variance", "previous_value"]
EXACT = ["period_end", "is_complete", "status", "definition_version"]


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def kpi_value_differences(mine: pd.DataFrame, theirs: pd.DataFrame) -> list[tuple]:
    """Every (column, key…, mine, theirs) that differs; rows missing on one side too."""
    frames = []
    for frame in (mine, theirs):
        frame = frame.copy()
        for column in ("period_start", "period_end"):
            frame[column] = pd.to_datetime(frame[column]).dt.date
        frame["is_complete"] = frame["is_complete"].astype(bool)
        frame["definition_version"] = frame["definition_version"].astype(int)
        frames.append(frame)
    merged = frames[0].merge(frames[1], on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    found = [
        ("row", *row)
        for row in merged.loc[merged["_merge"] != "both", [*KEY, "_merge"]].itertuples(index=False)
    ]
    both = merged[merged["_merge"] == "both"]
    for column in FLOATS:
        for row in both[[*KEY, f"{column}_a", f"{column}_b"]].itertuples(index=False):
            a, b = _number(row[-2]), _number(row[-1])
            if not _close(a, b):
                found.append((column, *row[:-2], a, b))
    for column in EXACT:
        unequal = both[both[f"{column}_a"] != both[f"{column}_b"]]
        found += [
            (column, *r)
            for r in unequal[[*KEY, f"{column}_a", f"{column}_b"]].itertuples(index=False)
        ]
    return found
