"""Making a rename survive a power cut: the folder that holds the new name is synced too.

A file's own fsync makes its bytes durable; the rename that publishes it lives in its
folder's entry, which needs its own fsync. Used wherever a crash must find either the old
or the new state (connector deliveries and cursors, the published copy).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new, renamed or removed names) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
