"""Local simulators of calendar servers, started by the tests."""
