"""Builds openplum; with ``OPENPLUM_COMPILE=1``, its hot modules are compiled to C extensions by mypyc.

Everything else about the package is in ``pyproject.toml``. The compiled build is the same source, type-checked
and translated module by module (mypyc ships with mypy); a getVars takes about 30 % less CPU in-process
(``bench/README.md``). ``scripts/serve`` and ``bench/run`` install it when the machine has a C compiler
(``scripts/install-server``), and ``scripts/test`` runs the whole suite on it as well as on the plain source.
A plain ``pip install .`` or ``pip install -e .`` compiles nothing. mypyc type-checks the modules as ``mypy``
does, so a compiled build runs where openplum's dependencies and mypy are installed, without pip's build
isolation: ``OPENPLUM_COMPILE=1 pip install --no-build-isolation --no-deps .`` in such an environment.

Which modules: those every ``/api`` request runs through (parsing, auth, decoding, preparing and running items, the
unit of work, the SQL and the SQLite store), those getVars and start spend their time in (audiences, the content
snapshot, the A/B placement and exposures, the content handlers, the reader of profiles in part), and the helpers
ingest's tracking handlers call per event (the name catalog and its checks, the actions' common helpers, users,
time). The handlers themselves stay interpreted: compiled, an ingest batch took 8 % more instructions, not fewer.
Modules that define msgspec structs stay interpreted: a struct whose class statement is compiled loses its options
(``rename=``, ``kw_only=``...) and its fields' types, which msgspec reads from the class. Where the code around a
struct is hot, the struct has a module of its own (``actions/prepared.py`` for the batch runner; the content
actions' parameters; ``services/placement.py`` apart from the A/B tests' structs).

A compiled class's methods cannot be replaced, and interpreted code may extend it only where it says so
(``mypyc_attr(allow_interpreted_subclasses=True)``: ``SqlTx``, which ``PgTx`` extends; ``Api``, which the
overload tests extend to count the requests under way). Tests slow a store down through the writer and the
reader threads it hands work to, not by replacing its methods.
"""

from __future__ import annotations

import os

from setuptools import setup

COMPILED = [
    "openplum/app.py",
    "openplum/client_text.py",
    "openplum/clock.py",
    "openplum/http/api.py",
    "openplum/http/auth.py",
    "openplum/http/files.py",
    "openplum/http/transport.py",
    "openplum/actions/common.py",
    "openplum/actions/content.py",
    "openplum/actions/decoding.py",
    "openplum/actions/prepare.py",
    "openplum/actions/runner.py",
    "openplum/actions/table.py",
    "openplum/services/apps.py",
    "openplum/services/audiences.py",
    "openplum/services/catalog.py",
    "openplum/services/content.py",
    "openplum/services/exposures.py",
    "openplum/services/identity.py",
    "openplum/services/naming.py",
    "openplum/services/placement.py",
    "openplum/services/profile_reader.py",
    "openplum/services/snapshot.py",
    "openplum/services/timing.py",
    "openplum/services/unit.py",
    "openplum/services/users.py",
    "openplum/store/sql.py",
    "openplum/store/sqlite.py",
]


def _extensions() -> list[object]:
    if os.environ.get("OPENPLUM_COMPILE") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit(
            "OPENPLUM_COMPILE=1 builds with mypyc, which comes with mypy: build in an environment that has mypy "
            "and openplum's dependencies, without build isolation (scripts/install-server does)"
        ) from None
    return list(mypycify([f"src/{path}" for path in COMPILED], opt_level="3"))


setup(ext_modules=_extensions())
