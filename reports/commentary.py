"""Owner commentary: one YAML file per month, ``<dir>/<YYYY-MM>.yml``, ``kpi_id: text``.

The files live in git beside the templates, so every comment is versioned and reviewed
like code. ``KPI_COMMENTARY_DIR`` points elsewhere (a shared drive, a separate repo).
The text is data like any other: the templates escape it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_COMMENTARY_DIR = Path(__file__).resolve().parent / "commentary"

# A comment is a paragraph beside a KPI, not an essay; longer text is cut so that a page
# cannot be pushed out of shape by one entry.
MAX_COMMENT_CHARS = 280


class CommentaryError(ValueError):
    """A commentary file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Commentary:
    source: Path | None
    comments: dict[str, str] = field(default_factory=dict)
    unknown_ids: tuple[str, ...] = ()


def commentary_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("KPI_COMMENTARY_DIR")
    return Path(configured).expanduser() if configured else DEFAULT_COMMENTARY_DIR


def load_commentary(month: str, known_ids: set[str], directory: Path | None = None) -> Commentary:
    """The comments for ``month`` (YYYY-MM); an absent file means no comments yet."""
    folder = commentary_dir(directory)
    path = next(
        (p for p in (folder / f"{month}.yml", folder / f"{month}.yaml") if p.is_file()), None
    )
    if path is None:
        return Commentary(source=None)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommentaryError(f"Commentary file {path} cannot be read: {reason}") from exc
    if loaded is None:
        return Commentary(source=path)
    if not isinstance(loaded, dict):
        raise CommentaryError(f"Commentary file {path} must map KPI ids to text (kpi_id: comment).")
    comments: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in loaded.items():
        kpi_id = str(key).strip()
        if kpi_id not in known_ids:
            unknown.append(kpi_id)
            continue
        if value is None:
            continue
        text = " ".join(str(value).split()) if not isinstance(value, str) else value.strip()
        if not text:
            continue
        if len(text) > MAX_COMMENT_CHARS:
            text = text[: MAX_COMMENT_CHARS - 1].rstrip() + "…"
        comments[kpi_id] = text
    return Commentary(source=path, comments=comments, unknown_ids=tuple(sorted(unknown)))
