# nv-team-lead: manage engineers, customers' records, and grants.
# Cannot write policies, change a group's policies, touch the admin or
# auditor groups, create tokens beyond customer access, or reveal (a team
# lead reveals only through a grant to themselves, which is in the trail).

# --- records (check-and-set is enforced by the mount: cas_required) ---
# Writes inside each EXISTING customer come from the rendered policy
# nv-team-lead-customers (one block per customer, `_ids` create-only), so a
# lead cannot create a new customer tree. Metadata: read and list only.
path "${kv}/metadata/customers/*" {
  capabilities = ["read", "list"]
}
# Soft-delete / undelete of versions creates nothing, so it needs no
# per-customer rule; "_ids" versions are never deleted (same first wildcard,
# same number of "+", the longer path wins).
path "${kv}/delete/customers/+/*" {
  capabilities = ["update"]
}
path "${kv}/delete/customers/+/_ids/*" {
  capabilities = ["deny"]
}
path "${kv}/undelete/customers/+/*" {
  capabilities = ["update"]
}
path "${kv}/data/_index/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "${kv}/metadata/_index/*" {
  capabilities = ["read", "list"]
}
path "${kv}/data/_config/settings" {
  capabilities = ["read"]
}
# find's per-person copies and who is enrolled for them (docs/DESIGN.md
# "Find"): kept by every record writer, grant, revoke and offboarding.
path "${kv}/data/_reach/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "${kv}/metadata/_reach/*" {
  capabilities = ["read", "delete"]
}
path "${kv}/data/_readers/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "${kv}/metadata/_readers/*" {
  capabilities = ["read"]
}

# --- sealing secret fields: encrypt and rewrap, never decrypt or export ---
path "${transit}/encrypt/customer-*" {
  capabilities = ["update"]
}
path "${transit}/rewrap/customer-*" {
  capabilities = ["update"]
}
# Read key versions only. Creating a key is an "update" of keys/<k> in
# transit (checked), so a glob update here would let a lead create
# customer-<new> before the admin's `customer add`. Rotation is granted per
# existing customer (keys/customer-<slug>/rotate, nv-team-lead-customers);
# config (exportable, deletion), trim, export and backup stay out of reach.
path "${transit}/keys/customer-*" {
  capabilities = ["read"]
}

# --- grants: one identity group per (customer, engineer) ---
# Only grant groups, only customer policies, one policy per request: a
# comma-joined string could smuggle a second policy, a list is refused by
# the allowed_parameters match itself.
path "identity/group" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "name"              = ["nv-grant:*"]
    "policies"          = ["nv-customer-*"]
    "member_entity_ids" = []
    "metadata"          = []
  }
  # Vault lower-cases and trims policy names ("nv-customer-ACME " grants
  # nv-customer-acme; Go also lower-cases U+0130 to "i" and the Kelvin sign
  # to "k"): refused, so a per-customer deny (nv-ended-<slug>, customer end)
  # cannot be side-stepped by spelling.
  denied_parameters = {
    "policies" = [
      "*,*",
      "*A*", "*B*", "*C*", "*D*", "*E*", "*F*", "*G*", "*H*", "*I*",
      "*J*", "*K*", "*L*", "*M*", "*N*", "*O*", "*P*", "*Q*", "*R*",
      "*S*", "*T*", "*U*", "*V*", "*W*", "*X*", "*Y*", "*Z*", "*\u0130*",
      "*\u212a*", "*\t*", "*\n*", "*\u000b*", "*\f*", "*\r*", "* *", "*\u0085*", "*\u00a0*",
      "*\u1680*", "*\u2000*", "*\u2001*", "*\u2002*", "*\u2003*", "*\u2004*", "*\u2005*", "*\u2006*", "*\u2007*",
      "*\u2008*", "*\u2009*", "*\u200a*", "*\u2028*", "*\u2029*", "*\u202f*", "*\u205f*", "*\u3000*",
    ]
  }
}
path "identity/group/name/nv-grant:*" {
  capabilities = ["read", "delete"]
}
path "identity/group/name" {
  capabilities = ["list"]
}
# Put people into the engineer role (and take them out when offboarding).
# Only the member list: an update that names no "policies" keeps the
# group's policies, and "policies" itself is not an allowed parameter.
path "identity/group/name/nv-role-engineer" {
  capabilities       = ["read", "update"]
  allowed_parameters = { "member_entity_ids" = [] }
}
# Vault has no check-and-set on groups: netvault serialises changes of a
# role group's member list with a lock key written with check-and-set.
path "${kv}/data/_locks/groups/*" {
  capabilities = ["create", "read", "update"]
}
path "${kv}/metadata/_locks/groups/*" {
  capabilities = ["read"]
}
# The other role groups: read (to show who has which role), never change.
path "identity/group/name/nv-role-team-lead" {
  capabilities = ["read"]
}
path "identity/group/name/nv-role-auditor" {
  capabilities = ["read"]
}
path "identity/group/name/nv-role-admin" {
  capabilities = ["read"]
}
# Grant records (who, why, until when): informational; the group or the
# JIT token is what Vault enforces.
path "${kv}/data/_grants/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "${kv}/metadata/_grants/*" {
  capabilities = ["read", "list", "delete"]
}
# End of service (netvault customer end): the end record, create-only (a
# lead cannot move the date or remove it; only an admin can). Shred and
# erase records are written by admins.
path "${kv}/data/_lifecycle/+/end" {
  capabilities = ["create", "read"]
}
path "${kv}/data/_lifecycle/*" {
  capabilities = ["read"]
}
path "${kv}/metadata/_lifecycle/*" {
  capabilities = ["read", "list"]
}
# Deliver JIT tokens (response-wrapped) to an engineer's inbox. Write-only
# for the data: a team lead never reads another person's delivery. Metadata
# (versions only, no wrap token) is readable so a write can carry the
# check-and-set version the mount requires, and deletable so a revoke or an
# offboarding can withdraw a delivery nobody picked up.
path "${kv}/data/_inbox/*" {
  capabilities = ["create", "update"]
}
path "${kv}/metadata/_inbox/*" {
  capabilities = ["read", "list", "delete"]
}

# --- time-limited grants: JIT tokens from the nv-jit token role ---
# The role allows only nv-customer-* policies, caps the TTL and binds the
# token to a "jit:<user>" entity alias that carries no role groups.
path "auth/token/create/nv-jit" {
  capabilities = ["update"]
  allowed_parameters = {
    "policies"     = ["nv-customer-*"]
    "ttl"          = []
    "explicit_max_ttl" = []
    "entity_alias" = ["jit:*"]
    "meta"         = []
    "display_name" = []
  }
  denied_parameters = {
    "policies" = [
      "*,*",
      "*A*", "*B*", "*C*", "*D*", "*E*", "*F*", "*G*", "*H*", "*I*",
      "*J*", "*K*", "*L*", "*M*", "*N*", "*O*", "*P*", "*Q*", "*R*",
      "*S*", "*T*", "*U*", "*V*", "*W*", "*X*", "*Y*", "*Z*", "*\u0130*",
      "*\u212a*", "*\t*", "*\n*", "*\u000b*", "*\f*", "*\r*", "* *", "*\u0085*", "*\u00a0*",
      "*\u1680*", "*\u2000*", "*\u2001*", "*\u2002*", "*\u2003*", "*\u2004*", "*\u2005*", "*\u2006*", "*\u2007*",
      "*\u2008*", "*\u2009*", "*\u200a*", "*\u2028*", "*\u2029*", "*\u202f*", "*\u205f*", "*\u3000*",
    ]
  }
}
# Revoke a JIT token (revoke, offboard). Vault cannot limit this to JIT
# tokens: a lead could revoke any token whose accessor they know (denial of
# service only; accessors are not listable without sudo).
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

# --- engineers: create logins, find entities, disable them ---
# create only: a team lead cannot reset an existing user's password (that
# would let them become an admin) nor attach policies to a login.
path "auth/${userpass}/users/*" {
  capabilities       = ["create", "read"]
  allowed_parameters = { "password" = [], "token_ttl" = [], "token_max_ttl" = [] }
}
path "auth/${userpass}/users" {
  capabilities = ["list"]
}
path "identity/lookup/entity" {
  capabilities = ["update"]
}
# Disable only: "disabled" may be set to true and nothing else, so a team
# lead cannot re-enable a person an admin (or another lead) switched off,
# nor touch an entity's policies, name or metadata. (Disabling anyone,
# an admin included, remains possible: a denial-of-service power only.)
path "identity/entity/id/*" {
  capabilities       = ["read", "update"]
  allowed_parameters = { "disabled" = [true] }
}
path "identity/entity/id" {
  capabilities = ["list"]
}
path "identity/entity-alias/id/*" {
  capabilities = ["read"]
}

# --- own inbox, like an engineer (JIT access granted to oneself) ---
path "${kv}/data/_inbox/{{identity.entity.id}}/*" {
  capabilities = ["read", "delete", "create", "update"]
}
path "${kv}/metadata/_inbox/{{identity.entity.id}}/*" {
  capabilities = ["read", "list", "delete"]
}
path "${kv}/metadata/_inbox/{{identity.entity.id}}" {
  capabilities = ["list"]
}

# Mount lookups the CLI needs (accessors of userpass and token mounts).
path "sys/auth" {
  capabilities = ["read"]
}

# --- offboarding sweep of minted tokens (issue 8, attribution) ---
# Offboarding revokes the just-in-time tokens the person MINTED. The audit
# trail holds only HMACs of their accessors; the live accessors a team lead
# can see are those in grant records, compared through the audit device's
# HMAC. Only netvault's device, only hashing: nothing else is added (listing
# all token accessors needs sudo and stays with admins).
path "sys/audit-hash/netvault" {
  capabilities = ["update"]
}

# --- imports: keyed fingerprints of imported secrets (netvault import) ---
# transit hmac with the customer's key, so a re-import can tell a sealed
# value is unchanged without decrypting it. Never decrypt.
path "${transit}/hmac/customer-*" {
  capabilities = ["update"]
}

# --- incidents (issue 14) ---
# Give and take the on-call (break-glass) role: the member list only.
path "identity/group/name/nv-role-on-call" {
  capabilities       = ["read", "update"]
  allowed_parameters = { "member_entity_ids" = [] }
}
# Reviews of break-glass reveals: one key per audit event, created once
# (create and read only: append-only; never updated or deleted).
path "${kv}/data/_reviews/*" {
  capabilities = ["create", "read"]
}
path "${kv}/metadata/_reviews/*" {
  capabilities = ["read", "list"]
}
path "${kv}/metadata/_reviews" {
  capabilities = ["list"]
}
# Offboarding worklists (`engineer offboard`, `engineer show --offboarded`):
# one entry per run, written once ("create" without "update": Vault refuses
# a second write to the same key; no delete, destroy or metadata writes), so
# a stored worklist cannot be silently rewritten.
path "${kv}/data/_offboarded/*" {
  capabilities = ["create", "read"]
}
path "${kv}/metadata/_offboarded/*" {
  capabilities = ["list", "read"]
}
