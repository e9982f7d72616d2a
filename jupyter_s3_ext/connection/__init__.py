"""Connection details for the session: where the user's data is and how to reach it from code (no secret)."""
