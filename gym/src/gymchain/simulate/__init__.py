"""The seeded demo chain: 3 units, 2,000 members, a year of check-ins, classes, bookings and sensor readings.

``python -m gymchain.simulate`` (or ``gymchain seed``) fills an empty, migrated database. The generator is seeded
(``--seed``, default 2026): the same seed gives the same members, visits and classes, placed relative to today so
the demo always has a past year, a present (people in the gym now) and two weeks of bookable classes.
"""
