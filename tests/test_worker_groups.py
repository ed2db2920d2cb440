"""The suite's tests keep to their groups on the workers that run them.

`make test` runs on two workers with `--dist loadgroup`: each file is one group, so its
module fixtures (a built warehouse) are built once, and the files sharing the PostgreSQL
database form one group, so they never overlap. xdist names a test's group by adding it
to the test's id; if that stops working (a pytest and xdist pair that disagree), every
file's warehouse is quietly built on both workers and the database files run at once.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import xdist_group_of


def test_every_test_on_this_worker_carries_its_group(request):
    if "PYTEST_XDIST_WORKER" not in os.environ or not request.config.getvalue("loadgroup"):
        pytest.skip("the groups exist only on the workers of `--dist loadgroup`")
    wrong = [
        item.nodeid
        for item in request.session.items
        if not item.nodeid.endswith(f"@{xdist_group_of(item.path)}")
    ]
    assert not wrong, f"{len(wrong)} tests have no group, first: {wrong[:3]}"
