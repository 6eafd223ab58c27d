"""Calendar backends behind one protocol (see connectors.base)."""
