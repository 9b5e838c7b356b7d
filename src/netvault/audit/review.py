"""Reviews of break-glass reveals (issue 14).

A review is ``_reviews/<request id of the reveal>`` in KV, created once
(check-and-set 0; team leads and auditors have create + read only there:
append-only, enforced by Vault). The note comes from KV; WHO reviewed comes
from the audit trail (the allowed create of that key, attributed like every
event from what Vault binds), never from a field of the body. A review whose
write is not in the given files is shown with the flag ``reviewer-untraced``;
a reviewer who is the person who broke glass gets ``self-reviewed``.

Domain code: no printing; time comes in as ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from netvault.errors import Conflict, NotFound, PermissionDenied, UsageError
from netvault.values.results import json_result, to_json
from netvault.vault.kv import REVIEWS, kv_create, kv_data, kv_list, kv_read

_EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_NOTE = 500


@json_result
@dataclass
class Review:
    event: str  # request id of the break-glass reveal
    time: str
    engineer: str | None
    customer: str | None
    record: str | None
    incident: str | None
    outcome: str
    reviewed: bool = False
    reviewer: str | None = None  # from the trail (what Vault binds)
    reviewed_at: str | None = None
    note: str | None = None
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return to_json(self)


def event_id(text: str) -> str:
    if not isinstance(text, str) or not _EVENT_ID.fullmatch(text):
        raise UsageError("EVENT is the request id of a break-glass reveal (see `netvault audit review`)")
    return text


def check_note(note: str) -> str:
    note = (note or "").strip()
    if not note or len(note) > MAX_NOTE or any(not ch.isprintable() for ch in note):
        raise UsageError(f"--note must be one printable line of 1 to {MAX_NOTE} characters")
    return note


def stored_reviews(vault, kv: str) -> dict[str, dict]:
    """event id -> the review body kept in KV (note), for those the caller may read."""
    out: dict[str, dict] = {}
    if vault is None:
        return out
    try:
        keys = kv_list(vault, kv, REVIEWS)
    except (PermissionDenied, NotFound):
        return out
    for k in keys:
        k = k.rstrip("/")
        if not _EVENT_ID.fullmatch(k):
            continue
        try:
            body = kv_data(vault, kv, f"{REVIEWS}/{k}")
        except PermissionDenied:
            continue
        out[k] = body or {}
    return out


def combine(evs: Iterable, stored: dict[str, dict] | None = None) -> list[Review]:
    """Break-glass reveals of ``evs`` with their review state. ``evs`` must
    hold the review writes too (action ``review``) to name reviewers."""
    reveals: dict[str, Review] = {}
    reviewers: dict[str, tuple[str | None, str]] = {}
    for e in evs:
        if e.action == "review" and e.outcome == "allowed" and e.operation == "create" and e.subject:
            reviewers.setdefault(e.subject, (e.engineer, e.time))
        elif e.action == "reveal" and "break-glass" in e.flags:
            reveals[e.request_id] = Review(e.request_id, e.time, e.engineer, e.customer, e.record or (
                "#" + e.record_id[:12] if e.record_id else None), e.incident, e.outcome)
    stored = stored or {}
    for rid, r in reveals.items():
        body = stored.get(rid)
        who = reviewers.get(rid)
        if body is None and who is None:
            continue
        r.reviewed = True
        if body is not None:
            note = body.get("note")
            r.note = note if isinstance(note, str) else None
        if who is not None:
            r.reviewer, r.reviewed_at = who
            if r.reviewer is None:
                r.flags.append("reviewer-untraced")
            elif r.reviewer == r.engineer:
                r.flags.append("self-reviewed")
        else:
            r.flags.append("reviewer-untraced")  # review in KV, its write not in these files
    return sorted(reveals.values(), key=lambda r: r.time)


@json_result
@dataclass(frozen=True)
class Reviewed:
    """`audit review --ack EVENT --json`: the review as stored."""
    event: str
    note: str
    reviewed_at: str


def ack(vault, event: str, note: str, *, now: datetime, kv: str) -> Reviewed:
    """Record the review of one break-glass reveal, once (Vault: create-only)."""
    event = event_id(event)
    note = check_note(note)
    body = {"note": note, "reviewed_at": now.astimezone(timezone.utc).replace(microsecond=0).isoformat()}
    try:
        existing = kv_read(vault, kv, f"{REVIEWS}/{event}")
    except PermissionDenied:
        existing = None
    if existing:
        raise Conflict(f"event {event} was reviewed already (reviews are append-only)")
    try:
        kv_create(vault, kv, f"{REVIEWS}/{event}", body)
    except Conflict:
        raise Conflict(f"event {event} was reviewed already (reviews are append-only)") from None
    except PermissionDenied:
        raise PermissionDenied("only team leads and auditors review break-glass reveals, once each (Vault refused)") from None
    return Reviewed(event, body["note"], body["reviewed_at"])
