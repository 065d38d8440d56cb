"""The Leanplum API actions: thin adapters from typed parameters to service calls, and the action table.

``table.ACTIONS`` is the public surface: every action name, its key class, parameter schema, handler and
``createDisposition`` default. Modules here parse nothing (``params`` does that) and write no SQL.
"""
