"""reviewguard online API."""
