"""Security kernel: password hashing, JWT access tokens, RBAC dependencies, PII encryption."""
