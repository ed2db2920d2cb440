"""The REST connector: a system's entities read from a paginated JSON API.

The API's shape, one endpoint per entity::

    GET {base_url}/{entity}?limit=500[&updated_since=2026-10-30T00:00:00.000000Z][&cursor=…]
    Authorization: Bearer {token}

    200 {"data": [{"account_id": "A1", …}, …], "next_cursor": "opaque" or null}

``updated_since`` (for entities with ``updated_at``) asks for rows updated at or after
the stored cursor; the connector drops those at exactly the cursor it already
delivered. An entity without ``updated_at`` is read whole and delivered only when it
changed. Field names match the contract's columns ignoring case; other fields are not
delivered; every value is delivered as text (a JSON number as written, never through a
float), so the extract decides validity exactly as for a file.

httpx makes the requests (timeouts per phase, connection reuse, a transport that tests
can point at a local server) and tenacity decides when to try again: on a timeout, a
dropped connection, 429 or a 5xx, with exponential, jittered back-off, or after the
wait a ``Retry-After`` header asks for (capped), up to a number of attempts. Any other
4xx is not worth repeating and fails at once. A page that is not the JSON above fails
the pull with one sentence; the delivery is written to a hidden temporary file and
renamed only after the last page, so a failed pull delivers nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import tenacity

from expectations.contract import Entity
from orchestration.connectors.delivery import (
    ConnectorError,
    Cursor,
    DeliveryWriter,
    PullResult,
    save_state,
    state_for_source,
    state_path,
    to_text,
)

CONNECTOR = "rest"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RestSource:
    """Where the API is and how patiently to talk to it."""

    base_url: str
    token: str | None = None
    name: str = "the API"  # e.g. "the crm API", for messages
    page_size: int = 500
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    # The first back-off; each further one doubles, with jitter, up to max_wait_seconds.
    backoff_seconds: float = 0.5
    # The longest single wait, Retry-After included: a server asking for an hour is
    # better answered by failing the run and letting the schedule try again.
    max_wait_seconds: float = 60.0

    def url(self, entity: Entity) -> str:
        return f"{self.base_url.rstrip('/')}/{entity.name}"


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _MalformedPage(Exception):
    pass


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _wait_strategy(source: RestSource):
    backoff = tenacity.wait_random_exponential(
        multiplier=source.backoff_seconds, max=source.max_wait_seconds
    )

    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _RetryableResponse):
            asked = retry_after_seconds(exc.response.headers.get("Retry-After"))
            if asked is not None:
                return min(asked, source.max_wait_seconds)
        return backoff(retry_state)

    return wait


def _parse_ts(text: str | None) -> datetime | None:
    """An updated_at value as an aware UTC datetime (None if it is not ISO 8601)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _page(response: httpx.Response) -> tuple[list[dict], str | None]:
    """The records and next cursor of a page, or _MalformedPage saying what is wrong."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise _MalformedPage(f"the body is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise _MalformedPage("the body is not a JSON object")
    data = body.get("data")
    if not isinstance(data, list):
        raise _MalformedPage("it has no 'data' list")
    for i, record in enumerate(data, 1):
        if not isinstance(record, dict):
            raise _MalformedPage(f"record {i} is not an object")
    next_cursor = body.get("next_cursor")
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise _MalformedPage("'next_cursor' is neither a string nor null")
    return data, next_cursor or None


def pull_entity(
    source: RestSource,
    entity: Entity,
    landing_dir: Path,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    log: Callable[[str], None] | None = None,
) -> PullResult:
    """Deliver the entity's new or changed records from the API into the landing zone."""
    url = source.url(entity)
    result = PullResult(entity, CONNECTOR, url, mode="full")
    state_file = state_path(landing_dir, entity, CONNECTOR)
    state = state_for_source(state_file, url, result, "record")
    cursor = Cursor.from_state(state) if entity.has_updated_at else None
    params: dict[str, Any] = {"limit": source.page_size}
    if cursor is None:
        result.mode = "snapshot"
    elif cursor.value is not None:
        result.mode = "incremental"
        params["updated_since"] = cursor.value.astimezone(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )

    headers = {"Accept": "application/json"}
    if source.token:
        headers["Authorization"] = f"Bearer {source.token}"
    own_client = client is None
    if client is None:
        client = httpx.Client(timeout=source.timeout_seconds, follow_redirects=True)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        if log:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            wait = retry_state.next_action.sleep if retry_state.next_action else 0
            log(
                f"{entity.qualified_name}: {source.name} answered {_describe(exc)}; "
                f"attempt {retry_state.attempt_number} of {source.max_attempts}, "
                f"trying again in {wait:.1f} s"
            )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(
            (httpx.TimeoutException, httpx.TransportError, _RetryableResponse)
        ),
        wait=_wait_strategy(source),
        stop=tenacity.stop_after_attempt(source.max_attempts),
        before_sleep=before_sleep,
        reraise=True,
    )

    def get(page_params: dict[str, Any]) -> httpx.Response:
        response = client.get(url, params=page_params, headers=headers)
        if response.status_code in RETRY_STATUSES:
            raise _RetryableResponse(response)
        return response

    digest = hashlib.sha256()
    seen_cursors: set[str] = set()
    page_number = 0
    next_cursor: str | None = None
    try:
        with DeliveryWriter(landing_dir, entity, CONNECTOR, now) as writer:
            while True:
                page_number += 1
                page_params = dict(params)
                if next_cursor:
                    page_params["cursor"] = next_cursor
                try:
                    response = retrying(get, page_params)
                except (httpx.TransportError, _RetryableResponse) as exc:
                    raise ConnectorError(
                        f"Page {page_number} of {entity.qualified_name} could not be fetched "
                        f"from {source.name} ({url}) in {source.max_attempts} attempts; the "
                        f"last one got {_describe(exc)}."
                    ) from exc
                if response.status_code != 200:
                    hint = " (check the API token)" if response.status_code in (401, 403) else ""
                    raise ConnectorError(
                        f"Page {page_number} of {entity.qualified_name} was refused by "
                        f"{source.name} ({url}) with HTTP {response.status_code}{hint}."
                    )
                try:
                    records, next_cursor = _page(response)
                    if next_cursor is not None and next_cursor in seen_cursors:
                        raise _MalformedPage(f"its next_cursor {next_cursor!r} was already used")
                except _MalformedPage as exc:
                    raise ConnectorError(
                        f"Page {page_number} of {entity.qualified_name} from {source.name} "
                        f"({url}) is malformed: {exc}; nothing was delivered."
                    ) from exc
                if next_cursor is not None:
                    seen_cursors.add(next_cursor)
                batch = []
                for record in records:
                    fields = {str(k).strip().lower(): v for k, v in record.items()}
                    text = {c.name: to_text(fields.get(c.name)) for c in entity.columns}
                    if cursor is not None:
                        key = tuple(text[k] for k in entity.key)
                        updated = _parse_ts(text.get("updated_at"))
                        if not cursor.is_new(key, updated):
                            continue
                        cursor.advance(key, updated)
                    else:
                        digest.update(json.dumps([text[c.name] for c in entity.columns]).encode())
                    batch.append(text)
                writer.write(batch)
                if next_cursor is None:
                    break
            if cursor is None and digest.hexdigest() == state.get("snapshot_sha256"):
                result.mode = "unchanged"
                return result
            result.delivery = writer.commit()
            result.rows = writer.rows
            result.files_changed = 1 if result.delivery else 0
    finally:
        if own_client:
            client.close()

    new_state = {
        "connector": CONNECTOR,
        "source": url,
        "last_pull_at": datetime.now(timezone.utc).isoformat(),
        "last_delivery": result.delivery.name if result.delivery else state.get("last_delivery"),
        "pages": page_number,
    }
    if cursor is not None:
        new_state["cursor"] = cursor.to_state()
        result.cursor = to_text(cursor.value)
    else:
        new_state["snapshot_sha256"] = digest.hexdigest()
    save_state(state_file, new_state)
    return result


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, _RetryableResponse):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "a timeout"
    if exc is None:
        return "nothing"
    return f"{type(exc).__name__} ({str(exc) or 'no detail'})"
