"""Inspection institutions. Issue 2 holds only what data scopes need; the registry issue
fills in the fields of 000 4.1.1."""
