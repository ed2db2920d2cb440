"""pyarrow column helpers: ids, enum values picked by code, timestamps, dates, scaled
decimals, and awkward values put at random rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded number; a negative number is null."""
    arr = pa.array(nums, pa.int64(), mask=nums < 0)
    return pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pc.cast(arr, pa.string()), width=width, padding="0"), ""
    )


def _pick(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """The value of each code; a negative code is null."""
    codes = np.asarray(codes)
    return pa.array(list(values), pa.string()).take(pa.array(codes, pa.int32(), mask=codes < 0))


def _ts(values: np.ndarray) -> pa.Array:
    values = values.astype("datetime64[s]")
    return pa.array(values, pa.timestamp("s"), mask=np.isnat(values))


def _date(values: np.ndarray) -> pa.Array:
    values = values.astype("datetime64[D]")
    return pa.array(values, pa.date32(), mask=np.isnat(values))


def _int(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, np.int64), pa.int64(), mask=null)


def _scaled(values: np.ndarray, places: int, null: np.ndarray | None = None) -> pa.Array:
    """A decimal held as an integer count of 10**-places, rounded half away from zero."""
    scaled = np.sign(values) * np.floor(np.abs(values) * 10**places + 0.5)
    return _int(scaled.astype(np.int64), null)


def _nulls(n: int, type_: pa.DataType) -> pa.Array:
    return pa.nulls(n, type_)


def _overwrite(arr: pa.Array, rng: np.random.Generator, values: Sequence[str]) -> pa.Array:
    """``arr`` with ``values`` put at random distinct rows (awkward names, for instance)."""
    rows = np.sort(rng.permutation(len(arr))[: min(len(values), len(arr))])
    mask = np.zeros(len(arr), bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), pa.array(list(values)[: rows.size]))
