"""AOI tests."""
