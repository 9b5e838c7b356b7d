# nv-backup: take raft snapshots, nothing else. For the backup timer's token
# (token role nv-backup), never the root token. It cannot read a record, and
# cannot restore (a restore is an update on this path: admins only).
path "sys/storage/raft/snapshot" {
  capabilities = ["read"]
}
