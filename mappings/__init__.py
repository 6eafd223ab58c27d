"""Pure, I/O-free translation between calendar items and store records."""
