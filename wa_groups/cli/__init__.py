"""The ``wa-groups`` command: every Groups API call, bulk join-request jobs, a webhook receiver and a demo.

Credentials come from ``WA_ACCESS_TOKEN`` (or ``--token-file``), ``WA_PHONE_NUMBER_ID``, ``WA_BASE_URL`` and
``WA_API_VERSION``. Output is a table for people or JSON with ``--json``; progress and errors go to stderr.
The access token is never printed.

``--backend wuts`` switches to the WUTS gateway (``WUTS_TOKEN``, ``WUTS_BASE_URL``): the parser is then built
with the WUTS commands (the shared ones, ``participants promote|demote``, ``communities``) and their help.

Each command lives in its own module, listed in the command table of :mod:`wa_groups.cli._parser` and imported
only when the command runs.
"""

from ._main import main

__all__ = ["main"]
