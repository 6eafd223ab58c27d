"""One router per resource of the booking API (``/api/v1``)."""
