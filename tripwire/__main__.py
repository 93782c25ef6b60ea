"""``python -m tripwire`` is the ``tripwire`` command."""

from tripwire.cli import main

raise SystemExit(main())
