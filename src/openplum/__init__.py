"""openplum: a self-hosted customer-engagement server that speaks the Leanplum REST API.

Layers, one direction: ``http`` (transport, action table, auth, envelope) calls ``actions`` (thin adapters per
area of the Leanplum API), which call ``services`` (domain rules, no HTTP, no SQL), which call ``store`` (one
protocol, SQLite and PostgreSQL implementations). Background ``workers`` call the same services.
"""

__version__ = "0.1.0"
