"""Background work: one module per job kind, run in-process by ``openplum serve`` (or by ``openplum worker``).

Workers call services and the store, never HTTP.
"""
