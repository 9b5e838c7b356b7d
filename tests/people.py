"""Test logins: a userpass user with a role, made the way netvault makes them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import hvac

from netvault.access.people import create_user


@dataclass
class User:
    name: str
    password: str
    role: str
    entity_id: str
    address: str

    def login(self) -> hvac.Client:
        client = hvac.Client(url=self.address)
        client.auth.userpass.login(self.name, self.password)
        return client

    def token(self) -> str:
        return self.login().token


def new_user(server, role: str = "engineer", name: str | None = None) -> User:
    """A fresh login with that role, created with the root token."""
    name = name or f"{role.replace('-', '')}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    entity = create_user(server.gateway(), "userpass", name, password, role)
    return User(name, password, role, entity, server.address)
