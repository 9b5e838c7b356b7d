"""What the record commands print with ``--json``: the typed results of
``records.store.Store``'s writes (see ``values/results.py``). The keys are
the stable ones the README promises; ``tests/test_json_keys.py`` holds them."""

from __future__ import annotations

from dataclasses import dataclass

from netvault.values.results import json_result


@json_result
@dataclass(frozen=True)
class CustomerAdded:
    """`customer add --json`."""
    customer: str
    id: str
    version: int
    transit_key: str
    policy: str
    skipped: list[str]


@json_result
@dataclass(frozen=True)
class CustomerEdited:
    """`customer edit --json`."""
    customer: str
    version: int


@json_result
@dataclass(frozen=True)
class KeyRotated:
    """`customer rotate-key --json`."""
    customer: str
    transit_key: str
    key_version: int
    records_rewrapped: int
    fields_rewrapped: int


@json_result
@dataclass(frozen=True)
class RecordAdded:
    """`credential add --json`, `licence add --json`."""
    customer: str
    name: str
    id: str
    version: int
    secret_fields: list[str]


@json_result
@dataclass(frozen=True)
class RecordEdited:
    """`credential edit --json`, `licence edit --json` (no key given)."""
    customer: str
    name: str
    version: int


@json_result
@dataclass(frozen=True)
class SecretsChanged:
    """`credential rotate --json`, `licence edit --key --json`: field names only, never values."""
    customer: str
    name: str
    version: int
    changed_fields: list[str]
    removed_fields: list[str]
    secret_fields: list[str]


@json_result
@dataclass(frozen=True)
class DeviceWritten:
    """`device add --json` (with ``id``) and `device edit --json` (``id`` left out)."""
    customer: str
    name: str
    version: int
    macs: list[str]
    ips: list[str]
    id: str | None = None

    JSON_OPTIONAL = ("id",)


@json_result
@dataclass(frozen=True)
class RecordRemoved:
    """`credential|device|licence rm --json`."""
    customer: str
    name: str
    kind: str
    deleted_version: int | None


@json_result
@dataclass(frozen=True)
class RecordRestored:
    """`credential|device|licence undelete --json`."""
    customer: str
    name: str
    kind: str
    restored_version: int


@json_result
@dataclass(frozen=True)
class Revealed:
    """`reveal --json`: the value only here, on stdout (``version`` only with --version)."""
    field: str
    value: str
    record: str
    incident: str | None
    version: int | None = None

    JSON_OPTIONAL = ("version",)


@json_result
@dataclass(frozen=True)
class Found:
    """`find --json`: how the term was read (``match``: mac, ip, name, text, …; ``key``:
    the normalised term) and the hits. A hit's keys depend on its ``type``."""
    term: str
    match: str
    key: str
    results: list[dict]


@json_result
@dataclass(frozen=True)
class CustomerRow:
    """One row of `customer list --json`. ``access_until`` only on a customer
    reached through a time-limited grant."""
    customer: str
    company: str | None = None
    city: str | None = None
    contact: str | None = None
    phone: str | None = None
    email: str | None = None
    access_until: str | None = None

    JSON_OPTIONAL = ("access_until",)


@json_result
@dataclass(frozen=True)
class CustomerRowWithState(CustomerRow):
    """A `customer list --json` row with its lifecycle state (team leads, admins)."""
    state: str = "active"
    end_on: str | None = None
    retention: str | None = None
    retention_until: str | None = None
    shredded: str | None = None

    JSON_OPTIONAL = ("access_until",)
