"""``python -m deputy.scanner URL``: the scanner without the ``deputy`` command."""

from deputy.scanner.cli import main

raise SystemExit(main())
