"""What the people commands print with ``--json`` (``engineer add|passwd|
list|show|disable|offboard``): typed results, see ``values/results.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from netvault.access.grants import Grant
from netvault.access.offboard import OffboardResult
from netvault.values.results import json_result


@json_result
@dataclass(frozen=True)
class PersonAdded:
    """`engineer add --json`; ``password`` only when generated (shown once), else None."""
    user: str
    role: str
    entity_id: str
    password: str | None = None


@json_result
@dataclass(frozen=True)
class PasswordReset:
    """`engineer passwd --json`; ``password`` only when generated, else None."""
    user: str
    reset: bool
    password: str | None


@json_result
@dataclass(frozen=True)
class PersonRow:
    """One row of `engineer list --json`."""
    user: str
    roles: list[str]
    disabled: bool
    entity_id: str | None
    customers: list[str]


@json_result
@dataclass(frozen=True)
class PersonShown:
    """`engineer show --json`."""
    user: str
    entity_id: str
    disabled: bool
    roles: list[str]
    jit_entity_id: str | None
    grants: list[Grant]


@json_result
@dataclass(frozen=True)
class PersonDisabled:
    """`engineer disable --json`."""
    user: str
    entity_id: str
    jit_entity_id: str | None
    disabled: bool


@json_result
@dataclass
class OffboardReport(OffboardResult):
    """`engineer offboard --json`: the offboarding and the worklist runs stored for the person."""
    stored_run: str | None = None
    earlier_runs: list = field(default_factory=list)
