"""The booking API that Jobnet's side calls (``/api/v1``)."""
