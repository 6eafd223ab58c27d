"""Tools for the demo, simulations and benchmarks: a local CalDAV server and calendar seeding.
Not used by the daemon in production."""
