"""The members service app (port 8002): ``uvicorn gymchain.members.app:app``."""

from __future__ import annotations

from gymchain.common.http import create_app

from .routers import catalog, checkins, classes, people

DESCRIPTION = """Members and what they do at the gym: units and areas, plans and contracts, classes with capacity
and wait-list, bookings, check-ins and live occupancy, and the LGPD tools (consent to camera analytics, data
export, erasure, audit trail of who read or changed personal data). Personal fields are encrypted at rest
(AES-256-GCM) and looked up through HMAC blind indexes. Every route needs a bearer token from the auth service;
members reach only their own data, trainers and managers their unit's, admins everything."""

app = create_app("members", DESCRIPTION)
for module in (catalog, people, classes, checkins):
    app.include_router(module.router)
