"""The ``openplum`` command: ``serve``, ``migrate``, ``apps``, ``admin-token``; ``export`` and ``jobs`` (``cli_jobs``).

Output meant for programs (``apps``) is JSON on stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from openplum import __version__, cli_jobs, logs
from openplum.services import admin_tokens, apps
from openplum.settings import Settings, from_env
from openplum.store import UNAVAILABLE, open_store
from openplum.store.base import Tx


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openplum", description="A self-hosted server for the Leanplum API.")
    parser.add_argument("--version", action="version", version=f"openplum {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve /api (migrations are applied first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    commands.add_parser("migrate", help="apply pending database migrations")

    app_cmd = commands.add_parser("apps", help="create and list apps")
    app_sub = app_cmd.add_subparsers(dest="apps_command", required=True)
    create = app_sub.add_parser("create", help="create an app; prints it as JSON")
    create.add_argument("--name", required=True)
    create.add_argument("--app-id")
    create.add_argument("--production-key")
    create.add_argument("--development-key")
    create.add_argument("--data-export-key")
    create.add_argument("--content-read-only-key")
    app_sub.add_parser("list", help="list apps as JSON")

    token_cmd = commands.add_parser("admin-token", help="management API tokens")
    token_sub = token_cmd.add_subparsers(dest="token_command", required=True)
    token_create = token_sub.add_parser("create", help="create a token for /manage/v1; prints it once")
    token_create.add_argument("--name", default="admin", help="who or what the token is for")
    token_sub.add_parser("list", help="list tokens (ids and names; never the secrets) as JSON")
    token_revoke = token_sub.add_parser("revoke", help="revoke a token at once")
    token_revoke.add_argument("token_id", help="the token's id, or the whole token")
    cli_jobs.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = from_env()
    try:
        return _run(settings, args)
    except UNAVAILABLE as exc:
        # An unreachable or unwritable store is the operator's to fix: say which one, without a traceback.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"openplum: cannot open the store ({_where(settings)}): {reason}", file=sys.stderr)
        return 1


def _where(settings: Settings) -> str:
    return "PostgreSQL" if settings.database_url else f"SQLite at {settings.sqlite_path}"


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "migrate":
        applied = open_store(settings).migrate()
        print(json.dumps({"backend": settings.backend, "applied": applied}))
        return 0
    if args.command == "apps":
        return _apps(settings, args)
    if args.command == "admin-token":
        return _admin_token(settings, args)
    if args.command in ("export", "jobs"):
        return cli_jobs.run(settings, args)
    return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from openplum.http.protocol import HeldWritesProtocol

    logs.configure(args.log_level)
    open_store(settings).migrate()
    print(f"openplum {__version__}: serving /api on http://{args.host}:{args.port} ({_where(settings)})",
          file=sys.stderr)
    uvicorn.run(
        "openplum.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        log_level=args.log_level, access_log=False, lifespan="on", loop=settings.event_loop,
        http=HeldWritesProtocol,
    )
    return 0


def _admin_token(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings)
    store.migrate()
    now = settings.clock.now()
    command = str(args.token_command)
    if command == "create":
        print(store.run(lambda tx: admin_tokens.create(tx, args.name, now)))
        return 0
    if command == "list":
        rows = store.run(lambda tx: tx.list_admin_tokens())
        print(json.dumps([{"id": t, "name": n, "created": c, "revoked": r} for t, n, c, r in rows], indent=2))
        return 0
    if not store.run(lambda tx: admin_tokens.revoke(tx, args.token_id, now)):
        print(f"openplum: no active token {args.token_id!r}", file=sys.stderr)
        return 1
    return 0


def _apps(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings)
    store.migrate()
    if args.apps_command == "list":
        print(json.dumps([apps.describe(a) for a in store.run(lambda tx: tx.list_apps())], indent=2))
        return 0
    keys = {
        apps.KeyClass.PRODUCTION: args.production_key,
        apps.KeyClass.DEVELOPMENT: args.development_key,
        apps.KeyClass.DATA_EXPORT: args.data_export_key,
        apps.KeyClass.CONTENT_READ_ONLY: args.content_read_only_key,
    }
    try:
        record = apps.new_app(args.name, settings.clock.now(), args.app_id, keys)

        def create(tx: Tx) -> apps.AppRecord:
            return apps.create_app(tx, record)

        store.run(create)
    except (apps.AppExists, apps.InvalidAppInput) as exc:
        print(f"openplum: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(apps.describe(record)))
    return 0
