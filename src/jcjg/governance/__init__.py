"""Data governance: the platform's data standard (data elements, code lists, models), versioned,
reviewed and published with an effective date (000 7.1.2, 7.1.4; docs/governance.md)."""
