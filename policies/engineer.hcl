# nv-engineer: log in, see which customers they are granted, pick up
# just-in-time access a team lead delivered. Records and reveals come only
# from nv-customer-<slug> policies, attached by a grant (identity group
# nv-grant:<customer>:<user>) or carried by a time-limited JIT token.

# Own inbox: response-wrapped JIT tokens, keyed by the engineer's entity id.
path "${kv}/data/_inbox/{{identity.entity.id}}/*" {
  capabilities = ["read", "delete"]
}
path "${kv}/metadata/_inbox/{{identity.entity.id}}/*" {
  capabilities = ["read", "list", "delete"]
}
path "${kv}/metadata/_inbox/{{identity.entity.id}}" {
  capabilities = ["list"]
}

# Settings a client needs (incident reference patterns, for prompts).
path "${kv}/data/_config/settings" {
  capabilities = ["read"]
}

# find's per-person copy of the search documents of the customers this
# person holds a standing grant for (written by team leads at grant, revoke
# and record-write time; docs/DESIGN.md "Find"). Only their own.
path "${kv}/data/_reach/{{identity.entity.id}}" {
  capabilities = ["read"]
}
