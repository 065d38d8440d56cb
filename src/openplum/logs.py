"""How ``openplum serve`` logs: openplum's records in one format, at the level ``--log-level`` chose, in every
server process.

uvicorn starts each worker process afresh (``--workers`` above 1: multiprocessing's spawn) and there configures
only its own loggers, so a worker would drop openplum's records below a warning and print the rest bare. The
level travels to the workers in the environment, and each process's app (``app.create_app``) applies it.
"""

from __future__ import annotations

import logging
import os

LEVEL_VARIABLE = "OPENPLUM_LOG_LEVEL"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Log at ``level`` in this process, and in the worker processes it starts (``configure_worker``)."""
    os.environ[LEVEL_VARIABLE] = level
    logging.basicConfig(level=level.upper(), format=FORMAT)


def configure_worker() -> None:
    """In a process ``openplum serve`` started: log as the server does. Elsewhere (openplum's app served or
    embedded some other way) the logging is the host's to configure, and nothing changes."""
    level = os.environ.get(LEVEL_VARIABLE)
    if level:
        logging.basicConfig(level=level.upper(), format=FORMAT)
