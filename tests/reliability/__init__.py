"""Reliability (issue 6): crash safety under SIGKILL, isolation between apps and key classes, overload.

Owns no code under ``src``: these tests drive the server through what users and operators use (``openplum serve``
as a process, the CLI, ``/api`` and ``/manage/v1``) and read the store back only to check what was kept.
"""
