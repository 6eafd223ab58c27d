"""The sync engine: reads calendars into the store and writes bookings out to calendars."""
