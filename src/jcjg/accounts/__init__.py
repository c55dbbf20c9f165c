"""Accounts: logging in and out, one's own password, second factor and API tokens, and the
administration of users and of the role x permission table, each change audited."""
