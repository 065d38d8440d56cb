"""The other systems the bench measures in the same run as openplum, against the same ceiling: Unleash 6, whose
frontend API answers one user's evaluated flags and A/B variants per request, as getVars does.

Unleash is installed with npm into a cache directory outside the repository (once per version), runs on a free
loopback port against a fresh PostgreSQL database that the bench creates and drops, with an admin token to set
its content up and a frontend token for the load. Its version checks and telemetry are turned off, and npm runs
no install scripts: nothing leaves the machine once the package is installed.

Its content mirrors the getVars scenario's (``bench/content.py``): the 10 audiences as segments (constraints on
the context the request carries), the 20 A/B tests as flags whose strategy carries a control and a treatment
variant (the treatment's JSON payload holds its 5 overrides), 5 of them rolled out to 50 % of users, and the
50 team values as the payload of one flag every user gets. The 1,000 variables' defaults have no counterpart:
Unleash holds no declared defaults (an app keeps them in its code).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from bench import content
from bench.client import Client, SetupError
from bench.servers import Server, free_port

UNLEASH_VERSION = "6.10.1"
"""The last 6.x: Unleash 7 and later need Node 22, and its 6.x releases run on Node 18 to 20."""
NODE_MAJORS = range(18, 21)
ENVIRONMENT = "development"
TEAM_FLAG = "team-values"
LOG = "unleash.log"


class Unavailable(RuntimeError):
    """The other system cannot run here: no Node.js or the wrong one, the install failed, or its database could
    not be created."""


# The audiences of bench/content.py as constraints on the request's context. Unleash reads no stored profile:
# a rule on the user's history (events, sessions, time in the app, location) becomes a rule on a context field
# that the load does not send, so it never matches (in openplum, Web signups' session rule does match).
SEGMENTS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Pro plan", [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]),
    ("Young adults", [{"contextName": "age", "operator": "NUM_GTE", "value": "18"},
                      {"contextName": "age", "operator": "NUM_LTE", "value": "30"}]),
    ("Buyers", [{"contextName": "purchases", "operator": "NUM_GTE", "value": "1"}]),
    ("Returning", [{"contextName": "sessions", "operator": "NUM_GT", "value": "1"}]),
    ("Chrome", [{"contextName": "browserName", "operator": "IN", "values": ["Chrome"]}]),
    ("North America", [{"contextName": "country", "operator": "IN", "values": ["US", "CA"]}]),
    ("Active this week", [{"contextName": "daysSinceActive", "operator": "NUM_LTE", "value": "7"}]),
    ("Web signups", [{"contextName": "signupSource", "operator": "IN", "values": ["web"]},
                     {"contextName": "sessions", "operator": "NUM_GTE", "value": "1"}]),
    ("Engaged", [{"contextName": "levelsCompleted", "operator": "NUM_GTE", "value": "3"}]),
    ("Not free", [{"contextName": "plan", "operator": "IN", "values": ["free"], "inverted": True}]),
]


def user_context(n: int) -> dict[str, str]:
    """User ``uN``'s context as the load sends it (``lua/frontend.lua``): the attributes ``workload.start_batch``
    gives openplum's users, and a session id in place of the device id."""
    return {"userId": f"u{n}", "sessionId": f"s{n}", "plan": "pro" if n % 3 == 0 else "free",
            "age": str(18 + n % 50), "signupSource": "web" if n % 2 else "ads", "browserName": "Chrome"}


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "openplum-bench" / f"unleash-{UNLEASH_VERSION}"


def _entry(directory: Path) -> Path:
    return directory / "node_modules" / "unleash-server" / "dist" / "server.js"


def _check_node() -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not on the PATH")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    if major not in NODE_MAJORS:
        raise Unavailable(f"Unleash {UNLEASH_VERSION} needs Node.js 18 to 20, this machine has {version}")


def install() -> Path:
    """Unleash's entry point, installed with npm into the cache directory unless it is there already."""
    _check_node()
    target = cache_dir()
    if _entry(target).exists():
        return _entry(target)
    staging = target.with_name(target.name + f".partial-{secrets.token_hex(4)}")
    staging.mkdir(parents=True)
    try:
        (staging / "package.json").write_text('{"private": true}\n')
        argv = ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--ignore-scripts",
                f"unleash-server@{UNLEASH_VERSION}"]
        done = subprocess.run(argv, cwd=staging, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode or not _entry(staging).exists():
            raise Unavailable(f"npm install unleash-server@{UNLEASH_VERSION} failed: {done.stderr.strip()[-500:]}")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _entry(target)


def _database_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _sql(url: str, statement: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.encode())
    except psycopg.Error as error:
        raise Unavailable(f"{statement}: {error}") from error


@dataclass
class Unleash:
    """A running Unleash with the bench's content: the server, and the frontend token the load sends."""

    server: Server
    frontend_token: str
    users: int
    answer_bytes: float = 0.0
    answer_flags: float = 0.0

    @property
    def name(self) -> str:
        return f"Unleash {UNLEASH_VERSION}"


@contextlib.contextmanager
def unleash(url: str, logs: Path, users: int) -> Iterator[Unleash]:
    """Unleash on a fresh database ``unleash_bench_<random>`` with the bench's content; stopped and its database
    dropped on the way out, whatever happened."""
    entry = install()
    database = f"unleash_bench_{secrets.token_hex(4)}"
    admin = f"*:*.{secrets.token_hex(16)}"
    frontend = f"default:{ENVIRONMENT}.{secrets.token_hex(16)}"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home()), "TZ": "UTC", "NODE_ENV": "production",
           "DATABASE_URL": _database_url(url, database), "DATABASE_SSL": "false", "HTTP_HOST": "127.0.0.1",
           "HTTP_PORT": str(port), "CHECK_VERSION": "false", "SEND_TELEMETRY": "false", "LOG_LEVEL": "warn",
           "INIT_ADMIN_API_TOKENS": admin, "INIT_FRONTEND_API_TOKENS": frontend}
    server = Server(f"Unleash {UNLEASH_VERSION}", ["node", str(entry)], env, port, logs / LOG)
    _sql(url, f'CREATE DATABASE "{database}"')
    try:
        server.start()
        running = Unleash(server, frontend, users)
        set_up(Client(port), admin)
        _wait_visible(Client(port), frontend)
        _measure_answers(Client(port), running)
        yield running
    finally:
        server.stop()
        _sql(url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def set_up(client: Client, token: str) -> None:
    """The segments, the 20 A/B test flags, then the team values' flag (last: once every user gets it, the
    frontend API serves all of the content)."""
    admin = _Admin(client, token)
    segments = [admin.post("/segments", {"name": name, "constraints": rules})["id"] for name, rules in SEGMENTS]
    names = content.variable_names()
    for t in range(content.TESTS):
        variants = [_variant("control", None), _variant("treatment", content.treatment(t, names))]
        admin.flag(f"test-{t:02d}", "experiment", 100 if t % 4 else 50, variants, segments[t:t + 1])
    admin.flag(TEAM_FLAG, "release", 100, [_variant("team", _team_values(names))], [])


def _team_values(names: list[str]) -> dict[str, Any]:
    """The 50 team values of ``content.set_up``, grouped as getVars answers them."""
    groups: dict[str, Any] = {}
    for name in content.team_value_names(names):
        group, var = name.split(".")
        groups.setdefault(group, {})[var] = content.override(name)
    return groups


def _variant(name: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    variant: dict[str, Any] = {"name": name, "weight": 500, "weightType": "variable", "stickiness": "userId"}
    if payload is not None:
        variant["payload"] = {"type": "json", "value": _compact(payload)}
    return variant


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Admin:
    """Unleash's admin API with the admin token, on the default project."""

    def __init__(self, client: Client, token: str) -> None:
        self.client, self.headers = client, {"Authorization": token, "Content-Type": "application/json"}

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.request("POST", "/api/admin" + path, body, self.headers)

    def flag(self, name: str, kind: str, rollout: int, variants: list[dict[str, Any]], segments: list[int]) -> None:
        """A flag with one gradual-rollout strategy sticky on the user id, switched on in the environment."""
        self.post("/projects/default/features", {"name": name, "type": kind})
        strategy = {"name": "flexibleRollout", "constraints": [], "segments": segments, "variants": variants,
                    "parameters": {"rollout": str(rollout), "stickiness": "userId", "groupId": name}}
        environment = f"/projects/default/features/{name}/environments/{ENVIRONMENT}"
        self.post(f"{environment}/strategies", strategy)
        self.post(f"{environment}/on")


def flags_for(client: Client, token: str, n: int) -> list[dict[str, Any]]:
    """User ``uN``'s evaluated flags from the frontend API, asked for as the load asks."""
    answer = client.request("GET", "/api/frontend?" + urlencode(user_context(n)), headers={"Authorization": token},
                            expect=(200,))
    toggles: list[dict[str, Any]] = answer["toggles"]
    return toggles


def _wait_visible(client: Client, token: str, timeout: float = 60.0) -> None:
    """Until the frontend API serves the flag set up last (its cache follows changes within seconds)."""
    deadline = time.monotonic() + timeout
    while not any(t["name"] == TEAM_FLAG for t in flags_for(client, token, 1)):
        if time.monotonic() > deadline:
            raise SetupError(f"the frontend API did not serve the content within {timeout:g} s")
        time.sleep(0.5)


def _measure_answers(client: Client, running: Unleash, sample: int = 200) -> None:
    """The median size of an answer (as compact JSON, which is how Unleash sends it) and of its flags, over the
    first ``sample`` users."""
    answers = [flags_for(client, running.frontend_token, n) for n in range(1, min(sample, running.users) + 1)]
    running.answer_bytes = statistics.median(len(_compact({"toggles": a}).encode()) for a in answers)
    running.answer_flags = statistics.median(len(a) for a in answers)
