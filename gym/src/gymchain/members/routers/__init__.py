"""HTTP routes of the members service, one module per domain."""
