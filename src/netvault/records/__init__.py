"""Customer records: the write side (store), the engineer's read path (lookup), search and find copies."""
