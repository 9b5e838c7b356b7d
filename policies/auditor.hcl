# nv-auditor: read the audit helpers and all metadata (who has access to
# what). Never reveals, never changes anything. Record bodies (contact
# data, usernames) stay out of reach: only names, ids and versions.

path "${kv}/metadata/*" {
  capabilities = ["read", "list"]
}
# Stable record id -> current name, to name records found in the trail.
path "${kv}/data/customers/+/_ids/*" {
  capabilities = ["read"]
}
path "${kv}/data/_grants/*" {
  capabilities = ["read"]
}
path "${kv}/data/_config/settings" {
  capabilities = ["read"]
}

path "identity/group/name" {
  capabilities = ["list"]
}
path "identity/group/name/*" {
  capabilities = ["read"]
}
path "identity/group/id/*" {
  capabilities = ["read"]
}
path "identity/entity/id" {
  capabilities = ["list"]
}
path "identity/entity/id/*" {
  capabilities = ["read"]
}
path "identity/lookup/entity" {
  capabilities = ["update"]
}
path "auth/${userpass}/users" {
  capabilities = ["list"]
}
path "sys/auth" {
  capabilities = ["read"]
}

# Find a token accessor or a value in the HMAC'd audit log.
path "sys/audit-hash/*" {
  capabilities = ["update"]
}

# --- incidents (issue 14) ---
# Review break-glass reveals: one key per audit event, created once.
path "${kv}/data/_reviews/*" {
  capabilities = ["create", "read"]
}
path "${kv}/metadata/_reviews" {
  capabilities = ["list"]
}
# An auditor put into nv-role-on-call by someone still reads no record
# bodies: same path string as nv-on-call's read rule, so deny wins the merge.
path "${kv}/+/customers/*" {
  capabilities = ["deny"]
}
# Offboarding worklists (read only): what was to be rotated after someone left.
path "${kv}/data/_offboarded/*" {
  capabilities = ["read"]
}
# Sub-processors of each customer (issue 11: the overview on request).
# Read only; team leads and admins write them.
path "${kv}/data/customers/+/subprocessors" {
  capabilities = ["read"]
}
