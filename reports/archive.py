"""The scorecard archive: ``<dir>/<YYYY-MM>/scorecard-<YYYY-MM>[-<owner>].pdf`` and a
``manifest.json`` per month naming, for every PDF, its SHA-256, the as-of date, the run
that made it and the definition versions its numbers were computed with.

Files are written to a temporary name and renamed, so a reader (or the mailer) never
sees half a PDF; the manifest is updated under a lock because the company scorecard and
the owners' scorecards of one month may be written by parallel steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from reports.scorecard import RenderResult, Scorecard

DEFAULT_ARCHIVE_DIR = PROJECT_ROOT / "var" / "reports"


def archive_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    configured = os.environ.get("KPI_REPORTS_DIR")
    return Path(configured).expanduser().resolve() if configured else DEFAULT_ARCHIVE_DIR


def owner_slug(owner: str) -> str:
    """A file-name-safe form of an owner role: 'VP Sales' -> 'vp-sales'."""
    slug = re.sub(r"[^a-z0-9]+", "-", owner.casefold()).strip("-")[:40].strip("-")
    # An owner made only of symbols still gets a stable, distinct name.
    return slug or "owner-" + hashlib.sha256(owner.encode()).hexdigest()[:8]


def scorecard_filename(month_key: str, owner: str | None = None) -> str:
    suffix = f"-{owner_slug(owner)}" if owner else ""
    return f"scorecard-{month_key}{suffix}.pdf"


@dataclass(frozen=True)
class ArchivedScorecard:
    path: Path
    sha256: str
    manifest_path: Path
    entry: dict


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".manifest.lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: single writer assumed
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def manifest_entry(scorecard: Scorecard, result: RenderResult, sha256: str, run_id: str) -> dict:
    return {
        "sha256": sha256,
        "bytes": len(result.pdf),
        "pages": result.pages,
        "month": scorecard.month_key,
        "owner": scorecard.owner,
        "as_of": scorecard.as_of.isoformat(),
        "period_complete": scorecard.is_complete,
        "generated_at": scorecard.generated_at.isoformat(),
        "archived_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "run_id": run_id,
        "source": str(scorecard.source),
        "numbers_sha256": scorecard.numbers_fingerprint(),
        "definition_versions": scorecard.definition_versions,
        "statuses": scorecard.status_counts,
        "quality": scorecard.quality_counts if scorecard.quality_available else None,
        "commentary": str(scorecard.commentary.source) if scorecard.commentary.source else None,
        "commentary_missing": [k.kpi_id for k in scorecard.missing_commentary],
        "render_seconds": round(result.seconds, 2),
        "refused_urls": len(result.refused_urls),
    }


def archive_scorecard(
    scorecard: Scorecard, result: RenderResult, folder: Path, run_id: str
) -> ArchivedScorecard:
    """Write the PDF under ``folder/<YYYY-MM>/`` and record it in that month's manifest."""
    month_dir = Path(folder) / scorecard.month_key
    name = scorecard_filename(scorecard.month_key, scorecard.owner)
    path = month_dir / name
    sha256 = hashlib.sha256(result.pdf).hexdigest()
    entry = manifest_entry(scorecard, result, sha256, run_id)
    manifest_path = month_dir / "manifest.json"
    with _locked(month_dir):
        _write_atomic(path, result.pdf)
        manifest = {"month": scorecard.month_key, "files": {}}
        if manifest_path.is_file():
            with contextlib.suppress(ValueError, OSError):
                loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and isinstance(loaded.get("files"), dict):
                    manifest = loaded
        manifest["files"][name] = entry
        manifest["files"] = dict(sorted(manifest["files"].items()))
        _write_atomic(
            manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        )
    return ArchivedScorecard(path=path, sha256=sha256, manifest_path=manifest_path, entry=entry)
