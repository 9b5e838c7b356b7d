"""The embedded and team OpenBao server: start, first start, raft cluster, backups, TLS, health."""
