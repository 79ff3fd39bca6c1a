"""Sync between the units and the centre over links that come and go.

Each unit runs an edge agent (:mod:`.edge`) with its own PostgreSQL database: the front desk records check-ins
and bookings there even while the unit is offline, each write with an event in the unit's outbox (same
transaction). A link (:mod:`.link`) pushes the outbox to the central sync service (:mod:`.central`) when the link
is up, and pulls the central feed for the unit (roster, areas, classes, decisions, compensations). The central
service applies unit events exactly once (processed-events table keyed by event id) under the rules of
:mod:`.rules` (capacity is decided centrally: a booking that arrives after the class filled is rejected and a
compensation event goes back to the unit, which marks it and notifies the desk). See
``gym/docs/data-and-messaging.md``.
"""
