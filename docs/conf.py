"""Sphinx configuration of the wa_groups documentation (MyST Markdown pages, API reference by autodoc)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import wa_groups  # noqa: E402

project = "wa_groups"
author = "wa_groups developers"
copyright = "wa_groups developers"
release = wa_groups.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "cli_help",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- API reference ------------------------------------------------------------------------------------------

autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
# The pytest plugin's module imports pytest, which the docs build does not install.
autodoc_mock_imports = ["pytest", "pytest_asyncio", "_pytest"]
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Every cross-reference must resolve, except to what the documentation does not cover. There is no
# intersphinx, so that the build needs no network.
nitpicky = True
nitpick_ignore_regex = [
    # The standard library, aiohttp, attrs and pytest.
    (r"py:.*", r"(asyncio|collections|collections\.abc|contextlib|datetime|enum|logging|os|typing|types|re)\..*"),
    (r"py:.*", r"(aiohttp|attrs|attr|pytest|_pytest|multidict|yarl)(\..*)?"),
    (r"py:class", r"(Any|Awaitable|Callable|Iterable|Mapping|Sequence|TextIO|datetime|timedelta)"),
    (r"py:class", r"(web\.)?(Application|Request|Response|StreamResponse|BaseRequest|AbstractAccessLogger)"),
    (r"py:class", r"(Path|PathLike|Final|Generic)"),
    # Type variables of generic classes.
    (r"py:(class|obj)", r"(wa_groups(\.[a-z_]+)*\.)?[A-Z]"),
    # Private helpers named in docstrings or signatures: wa_groups.bulk's docstring names _JobGate, and
    # WAGroupsError.mark_outcome_unknown names __str__, neither of which is documented.
    (r"py:class", r"(wa_groups(\.[a-z_]+)*\.)?_[A-Za-z_.]+"),
    (r"py:meth", r"__str__"),
    # The TypedDict of connection keyword arguments (``**connection``), described in the client docstrings.
    (r"py:class", r"(wa_groups\._core\.shell\.)?(ConnectionOptions|Unpack)"),
]

# -- HTML -------------------------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"wa_groups {release}"

# -- docstring processing -------------------------------------------------------------------------------------

#: Docstrings napoleon must leave alone. The package documents attributes and properties with a plain sentence
#: ("The cursor of the end of this page: pass it ..."); napoleon would read the text before the first colon
#: as a type and turn it into a broken cross-reference.
_PLAIN_DOCSTRINGS = frozenset({"attribute", "property", "data"})

#: Namespaces a short reference such as ``GroupsClient.iter_groups`` may live in, tried in order.
_NAMESPACES = ("wa_groups", "wa_groups.webhooks", "wa_groups.testing", "wa_groups.bulk", "wa_groups.errors")


def _napoleon_except_attributes(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    from sphinx.ext.napoleon import _process_docstring

    if what not in _PLAIN_DOCSTRINGS:
        _process_docstring(app, what, name, obj, options, lines)


def _resolve_in_public_namespaces(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a short Python reference that names a documented object of another public namespace."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target or target.startswith(("wa_groups.", "_")):
        return None
    domain = env.get_domain("py")
    for namespace in _NAMESPACES:
        candidate = f"{namespace}.{target}"
        if candidate in domain.objects:
            # A type alias named in an annotation is a py:class reference to a py:data object: accept any type.
            for reftype in (node["reftype"], "obj"):
                found = domain.resolve_xref(
                    env, node.get("refdoc", ""), app.builder, reftype, candidate, node, contnode
                )
                if found is not None:
                    return found
    return None


def _readable_defaults(app, what, name, obj, options, signature, return_annotation):  # type: ignore[no-untyped-def]
    """Make attrs defaults readable in signatures.

    ``RetryPolicy(sleep=asyncio.sleep)`` instead of the repr ``<function sleep>``, which Sphinx cannot parse
    (it then prints the whole signature as raw text, annotations included), and ``...`` instead of attrs'
    ``NOTHING`` for defaults made by a factory (a new empty list, dict...).
    """
    if signature:
        signature = signature.replace("<function sleep>", "asyncio.sleep").replace("= NOTHING", "= ...")
    return signature, return_annotation


def _public_bases(app, name, obj, options, bases):  # type: ignore[no-untyped-def]
    """Leave private helper classes (``_JsonReport``, ``testing._server.FakeServer``) out of "Bases:"."""
    bases[:] = [
        base
        for base in bases
        if not getattr(base, "__name__", "").startswith("_")
        and not any(part.startswith("_") for part in getattr(base, "__module__", "").split(".")[1:])
    ] or [object]


def setup(app):  # type: ignore[no-untyped-def]
    """Run napoleon except on attribute docstrings, resolve short references, tidy signatures."""
    from sphinx.ext.napoleon import _process_docstring

    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _napoleon_except_attributes)
    app.connect("missing-reference", _resolve_in_public_namespaces)
    app.connect("autodoc-process-signature", _readable_defaults)
    app.connect("autodoc-process-bases", _public_bases)
