"""Talking to Vault: the HTTP client, KV paths and idioms, policies, setting a server up."""
