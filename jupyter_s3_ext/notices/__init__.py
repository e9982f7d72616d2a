"""Notices the session shows its user on opening (a git clone that failed at start)."""
