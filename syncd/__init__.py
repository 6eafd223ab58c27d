"""Selvbook syncd: self-booking sync daemon for Danish jobcentres."""

__version__ = "0.1.0"
