"""``python -m vivant`` is the ``vivant`` command."""

from vivant.cli import main

raise SystemExit(main())
