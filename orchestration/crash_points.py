"""Named points in a run where a test can hold it, to kill it or to race it there.

``KPI_TEST_PAUSE_AT`` lists point names (comma-separated). A run reaching a listed point
prints ``pause point <name> reached (pid <pid>)`` on stderr and waits until the file
named by ``KPI_TEST_RESUME_FILE`` exists (forever when unset: the test kills it). Each
point pauses once per process. Unset, as in production, a point costs one lookup.

The points: ``extract`` (inside an entity's load transaction), ``dbt`` (a dbt build under
way), ``quality`` (rules validated, results not yet stored), ``alerts`` (inside the
alerts table's transaction), ``publish-written`` (the new copy written beside the
published one), ``publish-switch`` (the DuckDB copy swapped, the Parquet link not yet).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_passed: set[str] = set()


def pause_point(name: str) -> None:
    wanted = os.environ.get("KPI_TEST_PAUSE_AT")
    if not wanted or name in _passed or name not in wanted.split(","):
        return
    _passed.add(name)
    print(f"pause point {name} reached (pid {os.getpid()})", file=sys.stderr, flush=True)
    resume = os.environ.get("KPI_TEST_RESUME_FILE")
    while not (resume and Path(resume).exists()):
        time.sleep(0.05)
