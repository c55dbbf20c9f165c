"""Users, roles, permissions and data scopes; sessions, API tokens and the password policy."""
