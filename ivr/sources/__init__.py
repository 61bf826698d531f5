"""Data sources: where the line's lookups read orders, repairs and warranties (docs/sources.md)."""
