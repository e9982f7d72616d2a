"""Shared pytest configuration. Service fixtures live in tests/support and are imported where needed."""
