"""Owner commentary: reviewed YAML files in git, and comments submitted without git.

The reviewed record is one YAML file per month, ``<dir>/<YYYY-MM>.yml``, ``kpi_id: text``.
The files live in git beside the templates, so every comment is versioned and reviewed
like code. ``KPI_COMMENTARY_DIR`` points elsewhere (a shared drive, a separate repo).

Owners who do not use git submit comments with ``kpi-warehouse comment`` or a CSV file
(``month,kpi_id,text,author``) dropped in the inbox folder. Each submission is appended,
with its author and time, to a JSON-lines store (``KPI_COMMENT_STORE``, default
``var/commentary/comments.jsonl``): a file of its own, because the warehouse is locked
while a run holds it. The scorecard uses the newest submission for a KPI and month, and
the reviewed file wins wherever it has an entry for the same KPI: a submission fills a
gap until someone copies it (or an edited version) into the reviewed file.

The text is data like any other: the templates escape it.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import yaml

DEFAULT_COMMENTARY_DIR = Path(__file__).resolve().parent / "commentary"
_VAR = Path(__file__).resolve().parent.parent / "var" / "commentary"
DEFAULT_COMMENT_STORE = _VAR / "comments.jsonl"
DEFAULT_COMMENT_INBOX = _VAR / "inbox"
CSV_COLUMNS = ("month", "kpi_id", "text", "author")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# A comment is a paragraph beside a KPI, not an essay; longer text is cut so that a page
# cannot be pushed out of shape by one entry.
MAX_COMMENT_CHARS = 280


class CommentaryError(ValueError):
    """A commentary file or submitted comment that cannot be used; one sentence says why."""


@dataclass(frozen=True)
class Commentary:
    source: Path | None
    comments: dict[str, str] = field(default_factory=dict)
    unknown_ids: tuple[str, ...] = ()
    # KPI ids whose comment came from the submission store, not the reviewed file.
    submitted: dict[str, SubmittedComment] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmittedComment:
    month: str
    kpi_id: str
    text: str
    author: str
    submitted_at: str
    source: str

    def as_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, sort_keys=True)


def commentary_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("KPI_COMMENTARY_DIR")
    return Path(configured).expanduser() if configured else DEFAULT_COMMENTARY_DIR


def comment_store(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("KPI_COMMENT_STORE")
    return Path(configured).expanduser() if configured else DEFAULT_COMMENT_STORE


def comment_inbox(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("KPI_COMMENT_INBOX")
    return Path(configured).expanduser() if configured else DEFAULT_COMMENT_INBOX


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def validate_comment(
    month: str, kpi_id: str, text: str, known_ids: Iterable[str], today: date | None = None
) -> str | None:
    """Why a submission cannot be stored, in one sentence; None when it can."""
    known = set(known_ids)
    if not _MONTH.match(month or ""):
        return f"'{month}' is not a month of the form YYYY-MM."
    today = today or date.today()
    if month > today.strftime("%Y-%m"):
        return f"{month} has not started yet; comment on a month that has."
    if kpi_id not in known:
        return f"'{kpi_id}' is not a KPI id; KPI ids are: {', '.join(sorted(known))}."
    if not _clean(text):
        return "The comment text is empty."
    return None


def _append(records: list[SubmittedComment], store: Path) -> None:
    store.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(r.as_json() + "\n" for r in records)
    # One write of whole lines, flushed to disk: a crash leaves no half-stored comment,
    # and the command reports success only for what is durable.
    with open(store, "a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def submit_comment(
    month: str,
    kpi_id: str,
    text: str,
    author: str,
    known_ids: Iterable[str],
    store: Path | None = None,
    source: str = "command line",
) -> SubmittedComment:
    """Validate and store one comment; raises ``CommentaryError`` with the reason."""
    problem = validate_comment(month, kpi_id, text, known_ids)
    if problem:
        raise CommentaryError(problem)
    record = SubmittedComment(
        month=month,
        kpi_id=kpi_id,
        text=_clean(text),
        author=_clean(author) or "unknown",
        submitted_at=_now(),
        source=source,
    )
    _append([record], comment_store(store))
    return record


def import_csv(
    path: Path, known_ids: Iterable[str], store: Path | None = None
) -> list[SubmittedComment]:
    """Store every row of a dropped CSV file, or none of them if one row is invalid."""
    path = Path(path)
    known = set(known_ids)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in CSV_COLUMNS[:3] if c not in header]
            if missing:
                raise CommentaryError(
                    f"Comment file {path} has no {', '.join(missing)} column; its columns "
                    f"must be {','.join(CSV_COLUMNS)}."
                )
            reader.fieldnames = header
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommentaryError(f"Comment file {path} cannot be read: {exc}.") from exc
    records = []
    submitted_at = _now()
    for line, row in enumerate(rows, start=2):
        month = (row.get("month") or "").strip()
        kpi_id = (row.get("kpi_id") or "").strip()
        text = row.get("text") or ""
        problem = validate_comment(month, kpi_id, text, known)
        if problem:
            raise CommentaryError(f"Comment file {path}, line {line}: {problem}")
        records.append(
            SubmittedComment(
                month=month,
                kpi_id=kpi_id,
                text=_clean(text),
                author=_clean(row.get("author") or "") or "unknown",
                submitted_at=submitted_at,
                source=path.name,
            )
        )
    _append(records, comment_store(store))
    return records


def import_inbox(
    known_ids: Iterable[str], inbox: Path | None = None, store: Path | None = None
) -> tuple[list[SubmittedComment], list[str]]:
    """Import every ``*.csv`` in the inbox; the comments stored and one line per problem.

    An imported file moves to ``imported/``, a rejected one to ``rejected/`` with the
    reason beside it, so a file is read once and its sender can see what went wrong.
    """
    folder = comment_inbox(inbox)
    if not folder.is_dir():
        return [], []
    stored: list[SubmittedComment] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.csv")):
        try:
            records = import_csv(path, known_ids, store)
        except CommentaryError as exc:
            problems.append(str(exc))
            target = folder / "rejected" / path.name
            target.parent.mkdir(exist_ok=True)
            path.replace(target)
            target.with_name(target.name + ".error.txt").write_text(str(exc) + "\n")
            continue
        stored.extend(records)
        target = folder / "imported" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{path.name}"
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
    return stored, problems


def submitted_comments(month: str, store: Path | None = None) -> dict[str, SubmittedComment]:
    """The newest submission per KPI for ``month``; a damaged line is skipped, not fatal."""
    path = comment_store(store)
    if not path.is_file():
        return {}
    latest: dict[str, SubmittedComment] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = SubmittedComment(**json.loads(line))
            except (ValueError, TypeError):
                continue
            if record.month == month:
                latest[record.kpi_id] = record
    return latest


def _clip_comment(text: str) -> str:
    if len(text) > MAX_COMMENT_CHARS:
        return text[: MAX_COMMENT_CHARS - 1].rstrip() + "…"
    return text


def load_commentary(
    month: str,
    known_ids: set[str],
    directory: Path | None = None,
    store: Path | None = None,
) -> Commentary:
    """The comments for ``month`` (YYYY-MM): the reviewed file, then the submissions.

    The reviewed file wins for every KPI it has an entry for.
    """
    reviewed = _load_reviewed(month, known_ids, directory)
    comments = dict(reviewed.comments)
    submitted = {}
    for kpi_id, record in submitted_comments(month, store).items():
        if kpi_id in known_ids and kpi_id not in comments:
            comments[kpi_id] = _clip_comment(record.text)
            submitted[kpi_id] = record
    return Commentary(
        source=reviewed.source,
        comments=comments,
        unknown_ids=reviewed.unknown_ids,
        submitted=submitted,
    )


def _load_reviewed(month: str, known_ids: set[str], directory: Path | None) -> Commentary:
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
        comments[kpi_id] = _clip_comment(text)
    return Commentary(source=path, comments=comments, unknown_ids=tuple(sorted(unknown)))
