"""Tenancy: the institutions whose data the platform holds, below every business domain."""
