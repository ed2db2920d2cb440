"""Who receives what: KPI owner roles and the executive list, mapped to e-mail addresses.

The registry names owners by role (``owner: VP Sales``); people change, roles stay. This
file, ``reports/owners.yml`` (or ``KPI_OWNERS_FILE``), says who holds each role today::

    executives: [ceo@example.com, board@example.com]   # the full scorecard
    owners:
      VP Sales: [vp.sales@example.com]                   # that role's scorecard, reminders

Addresses are not secrets and are reviewed in git like the registry; the SMTP settings
and credentials still come only from the environment (``reports.mail``).
``KPI_REPORT_RECIPIENTS``, when set, replaces the executive list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reports.mail import REPORT_RECIPIENTS, parse_recipients

DEFAULT_OWNERS_FILE = Path(__file__).resolve().parent / "owners.yml"


class OwnersError(ValueError):
    """An owners file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class OwnerDirectory:
    source: Path | None
    executives: tuple[str, ...] = ()
    # Keyed by the role folded to lower case, so 'VP sales' finds 'VP Sales'.
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def addresses(self, owner: str) -> tuple[str, ...]:
        return self.owners.get(owner.strip().casefold(), ())


def owners_file(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("KPI_OWNERS_FILE")
    return Path(configured).expanduser() if configured else DEFAULT_OWNERS_FILE


def _addresses(path: Path, where: str, value) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise OwnersError(f"Owners file {path}: {where} must be an address or a list of them.")
    found = parse_recipients(", ".join(items))
    if len(found) != len(items):
        raise OwnersError(f"Owners file {path}: {where} holds something that is not an address.")
    return found


def load_owners(path: Path | None = None, env: Mapping[str, str] | None = None) -> OwnerDirectory:
    """The directory from the owners file; an absent file means nobody is mapped yet."""
    env = os.environ if env is None else env
    path = owners_file(path)
    override = parse_recipients(env.get(REPORT_RECIPIENTS))
    if not path.is_file():
        return OwnerDirectory(source=None, executives=override)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OwnersError(f"Owners file {path} cannot be read: {reason}") from exc
    if not isinstance(loaded, dict) or set(loaded) - {"executives", "owners"}:
        raise OwnersError(f"Owners file {path} must have only 'executives' and 'owners' keys.")
    executives = _addresses(path, "executives", loaded.get("executives") or [])
    roles = loaded.get("owners") or {}
    if not isinstance(roles, dict):
        raise OwnersError(f"Owners file {path}: 'owners' must map owner roles to addresses.")
    owners = {
        str(role).strip().casefold(): _addresses(path, f"owner '{role}'", value or [])
        for role, value in roles.items()
    }
    return OwnerDirectory(source=path, executives=override or executives, owners=owners)
