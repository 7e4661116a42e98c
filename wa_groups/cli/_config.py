"""Connection settings: one table per backend, and the clients built from it.

Each backend's table lists its options; the ``WA_*`` / ``WUTS_*`` variable names come from the clients'
``ENVIRONMENT`` tables, which ``from_env`` reads too. The global options, the
"environment" part of the help and the client's keyword arguments are all read from :data:`BACKENDS`, so a
setting is spelled out once.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple

from ..client import DEFAULT_API_VERSION, DEFAULT_BASE_URL, GroupsClient
from ..wuts import WutsClient
from ..wuts._protocol import DEFAULT_BASE_URL as WUTS_BASE_URL
from ._context import Context, usage


class Setting(NamedTuple):
    """A connection setting: a global option and an environment variable that fill one client keyword."""

    keyword: str
    """The client's keyword argument, also the option's destination."""
    variable: str
    """The environment variable read when the option is not given."""
    metavar: str
    """The option value's name in the help."""
    what: str
    """What the value is, for the help and the error when it is missing."""
    default: str | None = None
    """The client's default, shown in the help."""

    @property
    def flag(self) -> str:
        """Return the option, e.g. ``--base-url``."""
        return "--" + self.keyword.replace("_", "-")


class Backend(NamedTuple):
    """How to connect to one API: its token and its other settings."""

    token_variable: str
    """The environment variable holding the token (``--token-file PATH`` reads it from a file instead)."""
    token_name: str
    """The token's name in messages."""
    token_help: str
    """The token's description in the "environment" help."""
    settings: tuple[Setting, ...]
    """The other settings, in the order the help lists them."""


_GRAPH_VARIABLES = GroupsClient.ENVIRONMENT
_WUTS_VARIABLES = WutsClient.ENVIRONMENT
GRAPH = Backend(
    token_variable=_GRAPH_VARIABLES["access_token"],
    token_name="access token",
    token_help="access token",
    settings=(
        Setting("phone_number_id", _GRAPH_VARIABLES["phone_number_id"], "ID", "business phone number id"),
        Setting("base_url", _GRAPH_VARIABLES["base_url"], "URL", "Graph root URL", DEFAULT_BASE_URL),
        Setting("api_version", _GRAPH_VARIABLES["api_version"], "VERSION", "Graph API version", DEFAULT_API_VERSION),
    ),
)
WUTS = Backend(
    token_variable=_WUTS_VARIABLES["access_token"],
    token_name="WUTS token",
    token_help="WUTS user token",
    settings=(Setting("base_url", _WUTS_VARIABLES["base_url"], "URL", "WUTS root URL", WUTS_BASE_URL),),
)
#: The backends by their ``--backend`` name; the first one is the default.
BACKENDS = {"graph": GRAPH, "wuts": WUTS}
#: What ``-v`` shows of the command's own doings (the library logs its retries, ``-vv`` each request).
logger = logging.getLogger("wa_groups.cli")
#: The variable that picks the backend when ``--backend`` is not given.
BACKEND_VARIABLE = "WA_BACKEND"
#: The variables ``webhooks serve`` needs: the Meta app secret and the verify token.
WEBHOOK_VARIABLES = ("WA_APP_SECRET", "WA_VERIFY_TOKEN")


def environment_help(backend: Backend) -> str:
    """Return the lines of the help that list the backend's variables."""
    lines = [f"  {backend.token_variable:<20}{backend.token_help} (or --token-file PATH); never printed"]
    lines += [f"  {s.variable:<20}{s.what} (or {s.flag})" for s in backend.settings]
    lines.append(f"  {BACKEND_VARIABLE:<20}graph or wuts (or --backend)")
    if backend is GRAPH:
        lines.append(f"  {', '.join(WEBHOOK_VARIABLES)}   for 'webhooks serve'")
    return "\n".join(lines) + "\n"


def env(name: str) -> str | None:
    """Return the environment variable ``name`` stripped, or ``None`` when it is unset or blank."""
    return os.environ.get(name, "").strip() or None


def load_token(ctx: Context, backend: Backend) -> str:
    """Return the token from ``--token-file`` or the environment and add it to the secrets to hide."""
    path = ctx.option("token_file")
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                token = handle.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise usage(f"cannot read the token file {path}: {reason}") from None
        if not token:
            raise usage(f"the token file {path} is empty")
    else:
        token = env(backend.token_variable) or ""
        if not token:
            raise usage(f"no {backend.token_name}: set {backend.token_variable} or pass --token-file PATH")
    ctx.secrets.append(token)
    return token


def _connection(ctx: Context, backend: Backend, required: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Return the token and the client's keyword arguments; raise a usage error when a required one is missing."""
    token = load_token(ctx, backend)
    kwargs: dict[str, Any] = {}
    for setting in backend.settings:
        value = ctx.option(setting.keyword) or env(setting.variable)
        if value:
            kwargs[setting.keyword] = value
        elif setting.keyword in required:
            raise usage(f"no {setting.what}: set {setting.variable} or pass {setting.flag}")
    timeout = ctx.option("timeout")
    if timeout is not None:
        if timeout <= 0:
            raise usage("--timeout must be more than 0 seconds")
        kwargs["timeout"] = timeout
    return token, kwargs


def graph_client(ctx: Context, *, needs_phone: bool = False) -> GroupsClient:
    """Return a Graph client configured from the options and ``WA_*`` variables."""
    token, kwargs = _connection(ctx, GRAPH, ("phone_number_id",) if needs_phone else ())
    client = GroupsClient(token, **kwargs)
    logger.info(
        "Graph API %s at %s, business phone number id %s",
        client.api_version,
        client.base_url,
        client.phone_number_id or "(not set)",
    )
    return client


def wuts_client(ctx: Context) -> WutsClient:
    """Return a WUTS client configured from the options and ``WUTS_*`` variables."""
    token, kwargs = _connection(ctx, WUTS)
    client = WutsClient(token, **kwargs)
    logger.info("WUTS gateway at %s", client.base_url)
    return client


def webhook_secrets(ctx: Context) -> tuple[str, str]:
    """Return the app secret and the verify token ``webhooks serve`` needs, and add them to the secrets to hide."""
    values = [env(name) for name in WEBHOOK_VARIABLES]
    missing = [name for name, value in zip(WEBHOOK_VARIABLES, values, strict=True) if not value]
    app_secret, verify_token = values
    if missing or app_secret is None or verify_token is None:
        raise usage(f"webhooks serve needs {' and '.join(missing)} in the environment")
    ctx.secrets += [app_secret, verify_token]
    return app_secret, verify_token


def network_hint(ctx: Context, error: object) -> str:
    """Return the error with a hint to check the base URL: the server did not answer, or not as the API does."""
    backend = BACKENDS[str(ctx.option("backend", "graph"))]
    setting = next(setting for setting in backend.settings if setting.keyword == "base_url")
    url = ctx.option("base_url") or env(setting.variable) or setting.default
    return f"{error}; check {setting.flag} or {setting.variable} (now {url})"
