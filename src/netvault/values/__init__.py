"""Pure value checks and formats (names, MACs, durations, validation, safe text): no I/O."""
