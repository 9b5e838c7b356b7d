# nv-admin: set-up and policies. Everything, except revealing secrets:
# an admin reveals only through a grant to themselves (the exact
# per-customer decrypt rule of nv-customer-<slug> is more specific than the
# glob below, so it wins for a granted customer), visible in the trail.
path "*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}

# The same on the records mount, stated again so that it outranks the
# "${kv}/+/customers/<slug>/*" read-only rule of a customer policy when
# an admin is granted a customer (same first-wildcard position, fewer "+").
path "${kv}/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}

path "${transit}/decrypt/*" {
  capabilities = ["deny"]
}

# Keys never leave Vault and are never replaced (issue 8). Not even an
# admin may export a key, make it exportable or back it up in plain text,
# restore or import key material, or fetch the import wrapping key: any of
# these would let someone read every secret offline, with no decrypt in the
# trail. (An admin can still rewrite this policy: that is a policy write,
# visible in the trail and reported by `netvault setup --check`.)
path "${transit}/export/*" {
  capabilities = ["deny"]
}
path "${transit}/byok-export/*" {
  capabilities = ["deny"]
}
path "${transit}/backup/*" {
  capabilities = ["deny"]
}
path "${transit}/restore*" {
  capabilities = ["deny"]
}
path "${transit}/keys/+/import*" {
  capabilities = ["deny"]
}
path "${transit}/wrapping_key" {
  capabilities = ["deny"]
}
# Key creation and key config: everything but the two flags that let a key
# leave Vault. deletion_allowed stays possible (erasing a customer = deleting
# its key). Vault refuses a denied parameter whatever its value, so netvault
# never sends them (not even "false").
path "${transit}/keys/+" {
  capabilities      = ["create", "read", "update", "delete", "list"]
  denied_parameters = { "exportable" = [], "allow_plaintext_backup" = [] }
}
path "${transit}/keys/+/config" {
  capabilities      = ["create", "read", "update"]
  denied_parameters = { "exportable" = [], "allow_plaintext_backup" = [] }
}
