"""Routers of the analytics service, one file per topic (included by ``gymchain.analytics.app``)."""
