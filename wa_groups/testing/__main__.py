"""``python -m wa_groups.testing``: run a seeded fake API server in the foreground (see :mod:`.serve`)."""

from wa_groups.testing.serve import main

raise SystemExit(main())
