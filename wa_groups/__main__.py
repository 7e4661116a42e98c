"""Run the ``wa-groups`` command: ``python -m wa_groups``."""

from .cli import main

raise SystemExit(main())
