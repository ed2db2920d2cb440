"""The scorecard archive: ``<dir>/<YYYY-MM>/scorecard-<YYYY-MM>[-<owner>].pdf`` and a
``manifest.json`` per month naming, for every PDF, its SHA-256, the as-of date, the run
that made it and the definition versions its numbers were computed with.

Files are written to a temporary name and renamed, so a reader (or the mailer) never
sees half a PDF; the manifest is updated under a lock because the company scorecard and
the owners' scorecards of one month may be written by parallel steps.

An archived PDF is never overwritten. Rendering a month again with the same numbers keeps
the archived revision; with other numbers (a restatement, a late delivery) it writes a new
revision beside it, ``scorecard-<YYYY-MM>-r2.pdf`` and so on, and the manifest's
``revisions`` lists every revision of a scorecard with why it differs from the one before.
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

if TYPE_CHECKING:
    from reports.model import RenderResult, Scorecard

# The project's var/ folder, as the command line and Dagster default to; KPI_REPORTS_DIR
# or an explicit folder replaces it.
DEFAULT_ARCHIVE_DIR = Path(__file__).resolve().parent.parent / "var" / "reports"


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


def revision_filename(name: str, revision: int) -> str:
    """``scorecard-2026-10.pdf`` for revision 1, ``scorecard-2026-10-r2.pdf`` after."""
    return name if revision == 1 else name.removesuffix(".pdf") + f"-r{revision}.pdf"


def latest_revision(manifest: dict, name: str) -> str:
    """The file name of the newest revision of the scorecard first archived as ``name``."""
    revisions = manifest.get("revisions", {}).get(name) or [{"file": name}]
    return revisions[-1]["file"]


def last_generated_at(folder: Path, owner: str | None = None) -> datetime | None:
    """When the newest archived scorecard (of this owner, or the company's) was generated."""
    newest = None
    for manifest_path in Path(folder).glob("*/manifest.json"):
        with contextlib.suppress(ValueError, OSError, AttributeError, TypeError):
            files = json.loads(manifest_path.read_text(encoding="utf-8")).get("files", {})
            for entry in files.values():
                if entry.get("owner") == owner and entry.get("generated_at"):
                    at = datetime.fromisoformat(entry["generated_at"])
                    newest = at if newest is None or at > newest else newest
    return newest


def _kpi_numbers(scorecard: Scorecard) -> dict[str, str]:
    """Per KPI, a hash of what the scorecard prints for it: which KPIs a revision changed."""
    found = {}
    for kpi in scorecard.kpis:
        blob = json.dumps(
            [kpi.value, kpi.target, kpi.status.code, kpi.previous_value, kpi.last_year_value]
            + [(p.month.isoformat(), p.value, p.target, p.status.code) for p in kpi.trend],
            default=repr,
        )
        found[kpi.kpi_id] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return found


def _revision_reason(scorecard: Scorecard, before: dict) -> str:
    """Why a new revision differs from the one before: the KPIs and restatements behind it."""
    earlier = before.get("kpi_numbers") or {}
    now = _kpi_numbers(scorecard)
    changed = sorted(k for k in now if earlier.get(k) != now[k])
    since = before.get("generated_at")
    restated = [
        f"{r.kpi_id} {r.period:%Y-%m} ({r.reason}: {r.reported_text} -> {r.current_text})"
        for r in scorecard.restatements
        if since is None or r.restated_at.isoformat() > since[:19]
    ]
    if before.get("numbers_sha256") == scorecard.numbers_fingerprint():
        return f"same numbers as {before['file']}; the commentary changed."
    parts = [f"numbers differ from {before['file']}"]
    if changed:
        parts.append("for " + ", ".join(changed))
    if restated:
        parts.append("after restatements of " + "; ".join(restated))
    return " ".join(parts) + "."


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
        "kpi_numbers": _kpi_numbers(scorecard),
        "restatements_listed": len(scorecard.restatements),
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
    """Write the PDF under ``folder/<YYYY-MM>/`` and record it in that month's manifest.

    The same numbers as the newest archived revision: that revision stands and is returned.
    Other numbers: a new revision is written beside it; no archived file is replaced.
    """
    month_dir = Path(folder) / scorecard.month_key
    name = scorecard_filename(scorecard.month_key, scorecard.owner)
    sha256 = hashlib.sha256(result.pdf).hexdigest()
    entry = manifest_entry(scorecard, result, sha256, run_id)
    manifest_path = month_dir / "manifest.json"
    with _locked(month_dir):
        manifest = {"month": scorecard.month_key, "files": {}}
        if manifest_path.is_file():
            with contextlib.suppress(ValueError, OSError):
                loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and isinstance(loaded.get("files"), dict):
                    manifest = loaded
        revisions = manifest.setdefault("revisions", {}).setdefault(name, [])
        if not revisions and name in manifest["files"]:
            # Archived before revisions were recorded: that file is revision 1.
            revisions.append({"file": name, "revision": 1, "reason": "first rendering"})
        previous = manifest["files"].get(revisions[-1]["file"]) if revisions else None
        if (
            previous is not None
            and previous.get("numbers_sha256") == entry["numbers_sha256"]
            and previous.get("commentary") == entry["commentary"]
            and (month_dir / revisions[-1]["file"]).is_file()
        ):
            standing = month_dir / revisions[-1]["file"]
            return ArchivedScorecard(
                path=standing,
                sha256=previous["sha256"],
                manifest_path=manifest_path,
                entry=previous,
            )
        revision = len(revisions) + 1
        filename = revision_filename(name, revision)
        while (month_dir / filename).exists():
            # A file the manifest does not know (a lost manifest): never write over it.
            revision += 1
            filename = revision_filename(name, revision)
        path = month_dir / filename
        reason = (
            "first rendering"
            if previous is None
            else _revision_reason(scorecard, {**previous, "file": revisions[-1]["file"]})
        )
        entry = {**entry, "revision": revision, "revision_reason": reason}
        _write_atomic(path, result.pdf)
        revisions.append({"file": filename, "revision": revision, "reason": reason})
        manifest["files"][filename] = entry
        manifest["files"] = dict(sorted(manifest["files"].items()))
        _write_atomic(
            manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        )
    return ArchivedScorecard(path=path, sha256=sha256, manifest_path=manifest_path, entry=entry)
