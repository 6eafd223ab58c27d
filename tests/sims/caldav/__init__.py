"""CalDAV's test harness: a real Radicale (no simulator needed), see harness.py."""
