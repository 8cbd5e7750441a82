"""Monitoring: reference and live profiles, drift, data integrity, audit trail, JSON logs."""
