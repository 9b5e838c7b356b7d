# nv-audit-sealer: seal the audit trail. Signs digests with the Ed25519
# transit key "audit-seal" (never exportable) and appends them to KV:
# create only, so no digest can be updated or deleted by this role.
path "${transit}/sign/audit-seal" {
  capabilities = ["update"]
}
path "${transit}/keys/audit-seal" {
  capabilities = ["read"]
}
path "${kv}/data/_audit/digests/*" {
  capabilities = ["create", "read"]
}
path "${kv}/metadata/_audit/digests/*" {
  capabilities = ["read", "list"]
}
path "${kv}/metadata/_audit/digests" {
  capabilities = ["list"]
}
