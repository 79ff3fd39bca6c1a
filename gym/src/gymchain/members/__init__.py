"""The members service: units, areas, members, plans, contracts, classes, bookings, check-ins, LGPD tools."""
