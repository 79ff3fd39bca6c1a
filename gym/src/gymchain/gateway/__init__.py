"""The API gateway: one public entry that routes /api/<service>/... to the services."""
