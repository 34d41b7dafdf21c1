"""``python -m deputy``."""

from deputy.cli import main

raise SystemExit(main())
