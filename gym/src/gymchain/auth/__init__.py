"""The auth service: OAuth2 password flow, JWT access + rotating refresh tokens, users with role and unit."""
