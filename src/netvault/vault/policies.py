"""Load the reviewable HCL in ``policies/`` and render it for one server.

Every file there, static ``.hcl`` and ``.hcl.tmpl`` alike, is a template:
``${kv}``, ``${transit}`` and ``${userpass}`` stand for the ``[mounts]`` of
the config (``vault.mounts.Mounts``) and are filled in by ``render``, the one
place a policy text is made. ``render`` checks each mount name against
``names.mount`` (UsageError, exit 2, for anything else) before it reaches HCL.
With the default mounts the text is what the files said before templating.

The files ship inside the wheel as ``netvault/policies``; in a source
checkout (editable install) they are read from the top-level ``policies/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from netvault.values import names
from netvault.errors import UsageError
from netvault.vault.mounts import Mounts

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
    "admin": ("nv-role-admin", ["nv-admin", "nv-self-password"]),
    "team-lead": ("nv-role-team-lead", ["nv-team-lead", "nv-team-lead-customers", "nv-team-lead-engineers",
                                        "nv-self-password"]),
    "engineer": ("nv-role-engineer", ["nv-engineer", "nv-self-password"]),
    "auditor": ("nv-role-auditor", ["nv-auditor", "nv-audit-sealer", "nv-auditor-no-reveal", "nv-self-password"]),
    # break-glass (issue 14): given and taken by team leads, on top of another role
    "on-call": ("nv-role-on-call", ["nv-on-call"]),
}

#: rendered with the userpass mount's accessor (see render_self_password)
SELF_PASSWORD = "nv-self-password"
#: rendered from the engineer role's members (see render_team_lead_engineers)
TEAM_LEAD_ENGINEERS = "nv-team-lead-engineers"

#: rendered from the break-glass patterns (render_on_call)
ON_CALL = "nv-on-call"
#: rendered with the userpass mount accessor (render_requests / render_request_decisions)
REQUESTS = "nv-requests"
REQUEST_DECISIONS = "nv-request-decisions"
#: roles that may file access requests / decide them (policies added to their groups)
ROLE_EXTRA_POLICIES = {"engineer": [REQUESTS], "team-lead": [REQUESTS, REQUEST_DECISIONS]}

#: rendered from the list of customers (see render_auditor_no_reveal)
AUDITOR_NO_REVEAL = "nv-auditor-no-reveal"
#: rendered from the list of customers (see render_team_lead_customers)
TEAM_LEAD_CUSTOMERS = "nv-team-lead-customers"

#: per customer, written by ``customer end`` (netvault.lifecycle.service_end): see render_ended
ENDED_POLICY_PREFIX = "nv-ended-"
#: identity group (admin-made) whose policies are every customer's
#: ``nv-ended-<slug>`` and whose member group is nv-role-team-lead, so a
#: team lead's token carries an ended customer's policy once it is written
LIFECYCLE_GROUP = "nv-lifecycle"

#: roles whose people never get a just-in-time token: their ``jit:<user>``
#: alias belongs to a disabled entity (users.lock_jit_identity)
NO_JIT_ROLES = ("auditor", "admin")

CUSTOMER_POLICY_PREFIX = "nv-customer-"


def group_policies(role: str) -> list[str]:
    """Every policy of a role's group: its own and the rendered extras."""
    return ROLES[role][1] + ROLE_EXTRA_POLICIES.get(role, [])


def policy_dir() -> Path:
    shipped = Path(__file__).parents[1] / "policies"  # the wheel puts policies/ beside the package root
    if shipped.is_dir():
        return shipped
    source = Path(__file__).resolve().parents[3] / "policies"
    if source.is_dir():
        return source
    raise FileNotFoundError("netvault policies not found (neither in the package nor the checkout)")


def read(filename: str) -> str:
    return (policy_dir() / filename).read_text()


def render(filename: str, mounts: Mounts, **values: str) -> str:
    """The text of ``policies/<filename>`` with the mount names of ``mounts``
    (each validated here, whatever its source) and ``values`` filled in.
    A placeholder without a value, or a stray ``$``, is an error, never left
    in the text sent to Vault."""
    m = mounts.validated()
    return Template(read(filename)).substitute(values, kv=m.kv, transit=m.transit, userpass=m.userpass)


def role_policies(mounts: Mounts) -> dict[str, str]:
    return {name: render(fname, mounts) for name, fname in ROLE_POLICIES.items()}


def customer_policy_name(customer: str) -> str:
    return CUSTOMER_POLICY_PREFIX + customer


def render_customer(customer: str, reference_patterns: list[str], *, mounts: Mounts) -> str:
    """The nv-customer-<slug> policy. A name that is not a slug is refused
    (UsageError) here, whatever its source: it would be pasted into HCL."""
    names.slug(customer, "customer")
    return render(
        "customer.hcl.tmpl", mounts,
        customer=customer, reference_patterns=json.dumps(list(reference_patterns)),
        reference_denied=_hcl_list(denied_references(reference_patterns)),
    )


def denied_references(reference_patterns: list[str]) -> list[str]:
    """``denied_parameters`` globs for ``reference``: what an allowed pattern
    would let through but names no incident (Vault globs: ``X*`` prefix,
    ``*X`` suffix, ``*X*`` contains)."""
    from netvault.values.text import policy_denied_chars

    out: list[str] = []
    for p in reference_patterns:
        if p.endswith("*") and len(p) > 1:
            out += [p[:-1], p[:-1] + " *"]
        elif p.startswith("*") and len(p) > 1:
            out += [p[1:], "* " + p[1:]]
    out.append("***")  # contains "*"
    out += [f"*{c}*" for c in policy_denied_chars()]
    return list(dict.fromkeys(out))


def _hcl_list(values: list[str]) -> str:
    """A list of HCL strings; non-printable characters as \\u / \\U escapes."""
    def one(v: str) -> str:
        body = []
        for ch in v:
            cp = ord(ch)
            if ch in '"\\':
                body.append("\\" + ch)
            elif 0x20 <= cp < 0x7F:
                body.append(ch)
            else:
                body.append(f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
        return '"' + "".join(body) + '"'

    items = [one(v) for v in values]
    rows = [", ".join(items[i:i + 8]) for i in range(0, len(items), 8)]
    return "[\n      " + ",\n      ".join(rows) + ",\n    ]"


def _slugs(customers) -> list[str]:
    return sorted({names.slug(c, "customer") for c in customers})


def render_auditor_no_reveal(customers: list[str], *, mounts: Mounts) -> str:
    """nv-auditor-no-reveal: a deny on each customer's exact decrypt path.

    Re-rendered whenever a customer is added (``customer add`` and
    ``netvault setup``, from the nv-customer-* policies Vault holds). Every
    name must be a slug (UsageError otherwise)."""
    transit = mounts.validated().transit
    blocks = "".join(
        f'path "{transit}/decrypt/customer-{c}" {{\n  capabilities = ["deny"]\n}}\n'
        for c in _slugs(customers)
    )
    return render("auditor-no-reveal.hcl.tmpl", mounts, customer_denies=blocks)


def ended_policy_name(customer: str) -> str:
    return ENDED_POLICY_PREFIX + customer


def render_not_ended(customer: str) -> str:
    """nv-ended-<slug> while the customer is active: no rules. Written by
    ``customer add`` and setup so the name the team-lead group inherits always
    exists (a missing policy would be looked up in storage on every request)."""
    c = names.slug(customer, "customer")
    return f"# nv-ended-{c}: customer {c} is active (no rules until `netvault customer end`).\n"


def render_ended(customer: str, *, mounts: Mounts) -> str:
    """nv-ended-<slug>: what ``customer end`` switches on for a customer.

    Attached to team leads through the group nv-lifecycle. Refuses new grants
    of the customer (group and JIT token) and every transit use of its key
    but reads; the key itself refuses every decrypt (min_decryption_version,
    netvault.lifecycle.service_end). Its text depends on the slug and the
    transit mount alone: team leads may write exactly this text and nothing
    else (render_team_lead_customers)."""
    c = names.slug(customer, "customer")
    transit = mounts.validated().transit
    deny = "".join(
        f'path "{transit}/{p}" {{\n  capabilities = ["deny"]\n}}\n'
        for p in (f"decrypt/customer-{c}", f"encrypt/customer-{c}", f"rewrap/customer-{c}",
                  f"hmac/customer-{c}", f"keys/customer-{c}/rotate", f"keys/customer-{c}/config")
    )
    return (
        f"# nv-ended-{c}: customer {c} has ended (netvault customer end).\n"
        "# No new grant (standing or time-limited), no transit use of its key.\n"
        'path "identity/group" {\n  capabilities = ["create", "update"]\n'
        f'  denied_parameters = {{ "name" = ["nv-grant:{c}:*"], "policies" = ["nv-customer-{c}"] }}\n}}\n'
        'path "auth/token/create/nv-jit" {\n  capabilities = ["update"]\n'
        f'  denied_parameters = {{ "policies" = ["nv-customer-{c}"] }}\n}}\n'
        + deny
    )


def render_team_lead_customers(customers: list[str], *, mounts: Mounts) -> str:
    """nv-team-lead-customers: a team lead's record and key rights, one block
    per existing customer (names must be slugs, UsageError otherwise).

    The last two rules of a block are the end of service (netvault.lifecycle.service_end):
    raising the key's min_decryption_version (nothing else of its config),
    and writing nv-ended-<slug> with exactly render_ended's text (Vault
    compares the whole value, so no other policy text is accepted)."""
    m = mounts.validated()
    kv, transit = m.kv, m.transit
    blocks = []
    for c in _slugs(customers):
        blocks.append(
            f'\n# --- customer {c}\n'
            f'path "{kv}/data/customers/{c}/*" {{\n  capabilities = ["create", "read", "update", "delete"]\n}}\n'
            f'path "{kv}/data/customers/{c}/_ids/*" {{\n  capabilities = ["create", "read"]\n}}\n'
            f'path "{transit}/keys/customer-{c}/rotate" {{\n  capabilities = ["update"]\n}}\n'
            f'path "{transit}/keys/customer-{c}/config" {{\n  capabilities = ["update"]\n'
            f'  allowed_parameters = {{ "min_decryption_version" = [] }}\n}}\n'
            f'path "sys/policies/acl/{ended_policy_name(c)}" {{\n  capabilities = ["create", "read", "update"]\n'
            f'  allowed_parameters = {{ "policy" = [{json.dumps(render_ended(c, mounts=m))}] }}\n}}\n'
        )
    return render("team-lead-customers.hcl.tmpl", m, customer_blocks="".join(blocks))


def render_self_password(accessor: str, *, mounts: Mounts) -> str:
    """nv-self-password for the userpass mount (``mounts.userpass``) with that accessor."""
    return render("self-password.hcl.tmpl", mounts, accessor=_accessor(accessor))


def render_team_lead_engineers(logins, *, mounts: Mounts) -> str:
    """nv-team-lead-engineers: one exact path per login (each must be a valid
    user name, UsageError otherwise: it is pasted into HCL)."""
    userpass = mounts.validated().userpass
    blocks = []
    for user in sorted({names.username(u) for u in logins}):
        blocks.append(
            f'\npath "auth/{userpass}/users/{user}" {{\n  capabilities       = ["read", "update"]\n'
            f'  allowed_parameters = {{ "password" = [] }}\n}}\n'
        )
    return render("team-lead-engineers.hcl.tmpl", mounts, engineer_blocks="".join(blocks) or "# (no engineers yet)\n")


def customers_of_policies(policy_names) -> tuple[list[str], list[str]]:
    """Customers Vault knows, from its ``nv-customer-<slug>`` ACL policy names:
    (valid slugs, names that are not slugs). Policies are written only by
    admins (``customer add``), unlike KV, which team leads write."""
    good, bad = set(), set()
    for name in policy_names:
        if not isinstance(name, str) or not name.startswith(CUSTOMER_POLICY_PREFIX):
            continue
        customer = name[len(CUSTOMER_POLICY_PREFIX):]
        try:
            good.add(names.slug(customer, "customer"))
        except UsageError:
            bad.add(customer)
    return sorted(good), sorted(bad)


def customer_list_policies(customers: list[str], *, mounts: Mounts) -> dict[str, str]:
    """The policies rendered from the list of customers: name -> HCL."""
    return {
        AUDITOR_NO_REVEAL: render_auditor_no_reveal(customers, mounts=mounts),
        TEAM_LEAD_CUSTOMERS: render_team_lead_customers(customers, mounts=mounts),
    }


def render_on_call(break_glass_patterns: list[str], *, mounts: Mounts) -> str:
    """nv-on-call: decrypt in any customer with a break-glass reference only."""
    pats = list(break_glass_patterns)
    return render(
        "on-call.hcl.tmpl", mounts,
        patterns_text=", ".join(pats), reference_patterns=json.dumps(pats),
        reference_denied=_hcl_list(denied_references(pats)),
    )


def _accessor(userpass_accessor: str) -> str:
    import re

    if not isinstance(userpass_accessor, str) or not re.fullmatch(r"auth_userpass_[0-9a-f]{4,64}", userpass_accessor):
        raise UsageError(f"unexpected userpass mount accessor {names.shown(str(userpass_accessor))}")
    return userpass_accessor


def render_requests(userpass_accessor: str, *, mounts: Mounts) -> str:
    """nv-requests: each person files requests under their own login name only."""
    return render("requests.hcl.tmpl", mounts, userpass_accessor=_accessor(userpass_accessor))


def render_request_decisions(userpass_accessor: str, *, mounts: Mounts) -> str:
    """nv-request-decisions: team leads decide requests, never their own."""
    return render("request-decisions.hcl.tmpl", mounts, userpass_accessor=_accessor(userpass_accessor))
