"""Load the reviewable HCL in ``policies/`` and render per-customer policies.

The files ship inside the wheel as ``netvault/policies``; in a source
checkout (editable install) they are read from the top-level ``policies/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

#: Vault policy name -> file in policies/
ROLE_POLICIES = {
    "nv-admin": "admin.hcl",
    "nv-team-lead": "team-lead.hcl",
    "nv-engineer": "engineer.hcl",
    "nv-auditor": "auditor.hcl",
    "nv-audit-sealer": "audit-sealer.hcl",
    "nv-backup": "backup.hcl",
}

#: role name -> (identity group, policies of that group)
ROLES = {
    "admin": ("nv-role-admin", ["nv-admin"]),
    "team-lead": ("nv-role-team-lead", ["nv-team-lead"]),
    "engineer": ("nv-role-engineer", ["nv-engineer"]),
    "auditor": ("nv-role-auditor", ["nv-auditor", "nv-audit-sealer", "nv-auditor-no-reveal"]),
}

#: rendered from the list of customers (see render_auditor_no_reveal)
AUDITOR_NO_REVEAL = "nv-auditor-no-reveal"

CUSTOMER_POLICY_PREFIX = "nv-customer-"


def policy_dir() -> Path:
    shipped = Path(__file__).parent / "policies"
    if shipped.is_dir():
        return shipped
    source = Path(__file__).resolve().parents[2] / "policies"
    if source.is_dir():
        return source
    raise FileNotFoundError("netvault policies not found (neither in the package nor the checkout)")


def read(filename: str) -> str:
    return (policy_dir() / filename).read_text()


def role_policies() -> dict[str, str]:
    return {name: read(fname) for name, fname in ROLE_POLICIES.items()}


def customer_policy_name(customer: str) -> str:
    return CUSTOMER_POLICY_PREFIX + customer


def render_customer(customer: str, reference_patterns: list[str]) -> str:
    """The nv-customer-<slug> policy. ``customer`` must already be a valid slug."""
    return Template(read("customer.hcl.tmpl")).substitute(
        customer=customer, reference_patterns=json.dumps(list(reference_patterns))
    )


def render_auditor_no_reveal(customers: list[str]) -> str:
    """nv-auditor-no-reveal: a deny on each customer's exact decrypt path.

    Must be re-rendered whenever a customer is added (``netvault setup`` does
    it; ``customer add`` should call ``layout.sync_customer_policies``)."""
    blocks = "".join(
        f'path "netvault-transit/decrypt/customer-{c}" {{\n  capabilities = ["deny"]\n}}\n'
        for c in sorted(set(customers))
    )
    return Template(read("auditor-no-reveal.hcl.tmpl")).substitute(customer_denies=blocks)
