"""Kapacitet: will every citizen get a time before the deadline?

Pure domain, no I/O: demand as counts (``demand``), behaviour learned from booking history
(``behaviour``), a seeded simulation per week against the offers and rooms (``forecast``) and
Danish advice a coordinator can act on (``advice``).
"""
