"""Shared helpers for the import tests (imported, not collected as tests)."""

from __future__ import annotations

import json

from test_records_helpers import grant


def world(server, make_user, unique, cli, customers: int = 1) -> dict:
    """An admin who made ``customers`` fresh customers, a team lead, and an
    engineer granted all of them."""
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    names = []
    for _ in range(customers):
        c = unique("imp")
        r = cli("customer", "add", c, "--company", "Import BV", token=admin)
        assert r.returncode == 0, r.stderr
        grant(server, c, eng)
        names.append(c)
    return {"admin": admin, "lead": lead, "eng_user": eng, "eng": eng.token(), "c": names[0], "customers": names}


def shared_world(server, module_cli, customers: int = 1) -> dict:
    """``world`` for a module-scoped fixture (people and customers made once),
    for tests that are refused and write nothing."""
    import secrets

    from people import new_user

    return world(server, lambda role: new_user(server, role), lambda prefix: f"{prefix}-{secrets.token_hex(3)}",
                 module_cli, customers)


def lines(result) -> list[dict]:
    """The JSON lines of an import --json."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def reveal(cli, token: str, ref: str, field: str | None = None) -> str:
    args = ["reveal", ref, "--incident", "INC-4711"] + (["--field", field] if field else [])
    r = cli(*args, token=token)
    assert r.returncode == 0, r.stderr
    return r.stdout.rstrip("\n")
