"""Storage behind narrow interfaces: live call sessions, call records, business data."""
