"""Pure, I/O-free translation between calendar items and store records.

- ``ical``: iCalendar text <-> ``CalendarItem`` / ``EventDraft`` (for the CalDAV connector).
- ``recurrence``: occurrences of an item in a time range, on the local wall clock.
- ``classify``: window, busy, ignorable or our own, by the rules.
- ``render``: a booking as the event the caseworker sees.
- ``rules`` (+ ``default_rules.toml``): what a municipality can change without code.
- ``timezones``, ``privacy``, ``errors``: zone names, CPR refusal, and what goes wrong.

The only file this package reads is a rules TOML file.
"""
