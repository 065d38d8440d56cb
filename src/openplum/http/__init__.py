"""The HTTP edge: transport parsing, CORS, auth by key class, limits and the ``{"response": [...]}`` envelope.

May call ``actions`` (the action table) and the store only through services; never writes SQL.
"""
