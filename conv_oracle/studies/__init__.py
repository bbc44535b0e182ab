"""Studies: JSON-serialisable data for the conformance report."""
