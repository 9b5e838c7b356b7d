# nv-admin: set-up and policies. Everything, except revealing secrets:
# an admin reveals only through a grant to themselves (the exact
# per-customer decrypt rule of nv-customer-<slug> is more specific than the
# glob below, so it wins for a granted customer), visible in the trail.
path "*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}

# The same on the records mount, stated again so that it outranks the
# "netvault/+/customers/<slug>/*" read-only rule of a customer policy when
# an admin is granted a customer (same first-wildcard position, fewer "+").
path "netvault/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}

path "netvault-transit/decrypt/*" {
  capabilities = ["deny"]
}

path "netvault-transit/export/*" {
  capabilities = ["deny"]
}
