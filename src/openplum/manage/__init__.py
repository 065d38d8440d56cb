"""The management API (``/manage/v1``): JSON resources for what Leanplum's dashboard did, behind an admin token.

Routes are declared once in a registry that also produces the OpenAPI document the server serves. Handlers
call services inside store transactions; they never write SQL. A later web dashboard is a client of this API.
"""
