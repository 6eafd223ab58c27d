"""Room allocation: pure rules, no I/O (the store applies the plans)."""
