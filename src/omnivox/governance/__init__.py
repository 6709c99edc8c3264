"""Who may do what: API keys, roles and their permissions (see docs/security.md)."""
