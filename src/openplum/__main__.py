"""``python -m openplum`` is the ``openplum`` command."""

from openplum.cli import main

raise SystemExit(main())
