"""The audit trail: change rows for every write, and security events (logins, denials,
unmasked reads). Rows are append-only: no route edits them and the database refuses to."""
