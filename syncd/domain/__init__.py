"""Domain values and pure rules (no I/O): what sites, rooms, caseworkers and bookings are."""
