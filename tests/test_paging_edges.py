"""Cursor paging edge cases against a scripted Graph listing served on 127.0.0.1, plus a property test.

The scripted server answers the bodies a test queues, in order, whatever cursor is asked for, and records each
request's query. A request beyond the script is answered with a Graph error, so a paginator that asks for one
page too many fails the test with an ``InvalidRequestError`` naming the script.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wa_groups import GroupsClient, RetryPolicy
from wa_groups._graph import decode
from wa_groups.errors import ClientValidationError, PaginationError, ResponseError
from wa_groups.models import Page
from wa_groups.paging import Paginator

PHONE = "106540352242922"
GROUP = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjMwMDAwMDAwMDAwMDE"
NEXT_URL = "https://graph.facebook.com/v23.0/next-page"


class ScriptedGraph:
    """A listing endpoint that answers queued JSON bodies in order and records the queries it receives."""

    def __init__(self) -> None:
        self.base_url = ""
        self.bodies: Iterator[Any] = iter(())
        self.queries: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.record = True
        self.count = 0

    def answer(self, *bodies: Any) -> None:
        self.bodies = iter(bodies)

    async def handle(self, request: web.Request) -> web.Response:
        self.count += 1
        if self.record:
            self.queries.append(dict(request.query))
            self.paths.append(request.path)
        body = next(self.bodies, None)
        if body is None:
            error = {"message": "(#100) scripted server: no page left for this request", "code": 100}
            return web.json_response({"error": error}, status=400)
        return web.json_response(body)

    @property
    def afters(self) -> list[str | None]:
        return [query.get("after") for query in self.queries]


@pytest.fixture
async def graph() -> AsyncIterator[ScriptedGraph]:
    scripted = ScriptedGraph()
    app = web.Application()
    app.router.add_get("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        scripted.base_url = f"http://{host}:{port}"
        yield scripted
    finally:
        await runner.cleanup()


@pytest.fixture
async def api(graph: ScriptedGraph) -> AsyncIterator[GroupsClient]:
    async with GroupsClient(
        "token", phone_number_id=PHONE, base_url=graph.base_url, retry=RetryPolicy(max_attempts=1)
    ) as client:
        yield client


# ----------------------------------------------------------------------------------------------- listings


@attrs.frozen
class Listing:
    """How to page one kind of listing and how its pages look on the wire."""

    name: str
    path: str
    id_key: str
    shapes: tuple[str, ...]
    open: Callable[..., Paginator[Any]]

    def item(self, key: str) -> dict[str, Any]:
        return {self.id_key: key, "wa_id": "16505551234"} if self.id_key == "join_request_id" else {"id": key}

    def body(self, keys: list[str], paging: dict[str, Any] | None = None, *, shape: str | None = None) -> Any:
        items = [self.item(key) for key in keys]
        shape = shape or self.shapes[0]
        data: Any = items if shape == "list" else {shape: items}
        payload: dict[str, Any] = {"data": data}
        if paging is not None:
            payload["paging"] = paging
        return payload

    def key(self, item: Any) -> str:
        return str(getattr(item, self.id_key))


def paging(after: str | None = None, *, more: bool = True, before: str = "BEFORE") -> dict[str, Any]:
    cursors: dict[str, Any] = {"before": before}
    if after is not None:
        cursors["after"] = after
    result: dict[str, Any] = {"cursors": cursors}
    if more:
        result["next"] = f"{NEXT_URL}?after={after}"
    return result


GROUPS = Listing(
    name="groups",
    path=f"/v23.0/{PHONE}/groups",
    id_key="id",
    shapes=("groups", "list"),  # Meta's OpenAPI: data.groups[]; older answers: data[]
    open=lambda client, **kwargs: client.iter_groups(**kwargs),
)
JOIN_REQUESTS = Listing(
    name="join_requests",
    path=f"/v23.0/{GROUP}/join_requests",
    id_key="join_request_id",
    shapes=("list", "join_requests"),  # Meta's OpenAPI: data[]; accepted too: data.join_requests[]
    open=lambda client, **kwargs: client.iter_join_requests(GROUP, **kwargs),
)


@pytest.fixture(params=[GROUPS, JOIN_REQUESTS], ids=lambda listing: listing.name)
def listing(request: pytest.FixtureRequest) -> Listing:
    value: Listing = request.param
    return value


async def keys_of(listing: Listing, paginator: Paginator[Any]) -> list[str]:
    return [listing.key(item) async for item in paginator]


# ------------------------------------------------------------------------------------------------ the end


@pytest.mark.parametrize("shape_index", [0, 1], ids=["documented-shape", "other-shape"])
async def test_an_empty_page_with_next_is_not_the_end(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, shape_index: int
) -> None:
    shape = listing.shapes[shape_index]
    graph.answer(
        listing.body(["a", "b"], paging("C1"), shape=shape),
        listing.body([], paging("C2"), shape=shape),
        listing.body([], paging("C3"), shape=shape),
        listing.body(["c"], paging("C4", more=False), shape=shape),
    )
    assert await keys_of(listing, listing.open(api)) == ["a", "b", "c"]
    assert graph.afters == [None, "C1", "C2", "C3"]
    assert graph.paths == [listing.path] * 4


async def test_a_page_without_paging_ends_the_listing(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer(listing.body(["a", "b", "c"]))
    assert await keys_of(listing, listing.open(api, page_size=3)) == ["a", "b", "c"]
    assert graph.count == 1


async def test_paging_without_next_ends_even_with_an_after_cursor(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer(listing.body(["a"], paging("C1", more=False)))
    pages = [page async for page in listing.open(api).pages()]
    assert len(pages) == 1 and pages[0].after == "C1" and not pages[0].has_next
    assert graph.count == 1


async def test_an_empty_first_page_without_next_is_an_empty_listing(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer({"data": []})
    assert await keys_of(listing, listing.open(api)) == []
    assert graph.count == 1


# ------------------------------------------------------------------------------------------------ cursors


@pytest.mark.parametrize("cycle", [["A", "B", "A"], ["A", "A"], ["A", "B", "C", "B"]], ids="-".join)
async def test_a_returning_cursor_raises_pagination_error(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, cycle: list[str]
) -> None:
    graph.answer(*(listing.body([f"item{index}"], paging(cursor)) for index, cursor in enumerate(cycle)))
    seen: list[str] = []
    with pytest.raises(PaginationError, match=f"'{cycle[-1]}' twice"):
        async for item in listing.open(api):
            seen.append(listing.key(item))
    # Every page was delivered before the repeat was noticed, and nothing was asked after it.
    assert seen == [f"item{index}" for index in range(len(cycle))]
    assert graph.afters == [None, *cycle[:-1]]


async def test_the_resume_cursor_coming_back_raises(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    graph.answer(listing.body(["a"], paging("RESUME")))
    with pytest.raises(PaginationError):
        await keys_of(listing, listing.open(api, after="RESUME"))
    assert graph.afters == ["RESUME"]


@pytest.mark.parametrize(
    "bad_paging",
    [
        pytest.param({"next": NEXT_URL}, id="no-cursors"),
        pytest.param({"cursors": {"before": "B"}, "next": NEXT_URL}, id="no-after"),
        pytest.param({"cursors": {"before": "B", "after": ""}, "next": NEXT_URL}, id="empty-after"),
        pytest.param({"cursors": {"after": None}, "next": NEXT_URL}, id="null-after"),
        pytest.param({"cursors": "A", "next": NEXT_URL}, id="cursors-not-an-object"),
    ],
)
async def test_next_without_an_after_cursor_is_a_response_error(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, bad_paging: dict[str, Any]
) -> None:
    graph.answer(listing.body(["a"], paging("C1")), listing.body(["b"], bad_paging))
    seen: list[str] = []
    with pytest.raises(ResponseError, match="no 'after' cursor"):
        async for item in listing.open(api):
            seen.append(listing.key(item))
    assert seen == ["a"] and graph.count == 2


async def test_paging_that_is_not_an_object_is_a_response_error(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer(listing.body(["a"], paging=None) | {"paging": ["next"]})
    with pytest.raises(ResponseError, match="'paging' is not an object"):
        await keys_of(listing, listing.open(api))


async def test_after_resumes_with_the_given_cursor(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    graph.answer(listing.body(["x"], paging("C9")), listing.body(["y"], paging("C10", more=False)))
    assert await keys_of(listing, listing.open(api, after="C8")) == ["x", "y"]
    assert graph.afters == ["C8", "C9"]


async def test_page_after_cursors_resume_a_listing(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    graph.answer(listing.body(["a", "b"], paging("C1")))
    pages = listing.open(api).pages()
    first = await pages.__anext__()
    await pages.aclose()
    assert first.after == "C1" and first.has_next and graph.count == 1
    graph.answer(listing.body(["c"], paging("C2", more=False)))
    assert await keys_of(listing, listing.open(api, after=first.after)) == ["c"]
    assert graph.afters == [None, "C1"]


# ---------------------------------------------------------------------------------------------- max_items


@pytest.mark.parametrize(("max_items", "requests"), [(1, 1), (3, 1), (4, 2), (6, 2), (7, 3)])
async def test_max_items_stops_early_without_another_request(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, max_items: int, requests: int
) -> None:
    graph.answer(
        listing.body(["a", "b", "c"], paging("C1")),
        listing.body(["d", "e", "f"], paging("C2")),
        listing.body(["g", "h", "i"], paging("C3")),
    )
    assert await keys_of(listing, listing.open(api, max_items=max_items)) == list("abcdefghi")[:max_items]
    assert graph.count == requests


async def test_max_items_zero_sends_nothing(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    assert await keys_of(listing, listing.open(api, max_items=0)) == []
    assert graph.count == 0


async def test_breaking_out_early_sends_no_further_request(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer(listing.body(["a", "b"], paging("C1")), listing.body(["c"], paging("C2")))
    iterator = listing.open(api).__aiter__()
    assert listing.key(await iterator.__anext__()) == "a"
    assert listing.key(await iterator.__anext__()) == "b"
    await iterator.aclose()  # type: ignore[attr-defined]
    assert graph.count == 1


# ---------------------------------------------------------------------------------------------- page_size


async def test_page_size_is_sent_as_limit_on_every_request(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing
) -> None:
    graph.answer(listing.body(["a"], paging("C1")), listing.body(["b"], paging("C2", more=False)))
    assert await keys_of(listing, listing.open(api, page_size=7)) == ["a", "b"]
    assert graph.queries == [{"limit": "7"}, {"limit": "7", "after": "C1"}]


async def test_no_page_size_sends_no_limit(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    graph.answer(listing.body(["a"], paging("C1")), listing.body([], paging(more=False)))
    assert await keys_of(listing, listing.open(api)) == ["a"]
    assert graph.queries == [{}, {"after": "C1"}]


@pytest.mark.parametrize("page_size", [0, 1025, -1, True, 2.0, "10"])
async def test_bad_page_size_fails_before_any_request(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, page_size: Any
) -> None:
    with pytest.raises(ClientValidationError, match="page_size"):
        listing.open(api, page_size=page_size)
    assert graph.count == 0


@pytest.mark.parametrize("page_size", [1, 1024])
async def test_page_size_bounds_are_accepted(
    graph: ScriptedGraph, api: GroupsClient, listing: Listing, page_size: int
) -> None:
    graph.answer(listing.body(["a"]))
    assert await keys_of(listing, listing.open(api, page_size=page_size)) == ["a"]
    assert graph.queries == [{"limit": str(page_size)}]


# ------------------------------------------------------------------------------------------------- memory

PAGES = 400
ITEMS_PER_PAGE = 1
SUBJECT_CHARS = 16_000


def many_pages(listing: Listing, pages: int = PAGES) -> Iterator[Any]:
    """Yield small pages of big-ish items; every page but the last announces a next one."""
    filler = "x" * SUBJECT_CHARS
    for number in range(pages):
        keys = [f"{number}-{index}" for index in range(ITEMS_PER_PAGE)]
        items = [listing.item(key) | {"subject": filler, "wa_id": filler} for key in keys]
        body: dict[str, Any] = {"data": items if listing.shapes[0] == "list" else {listing.shapes[0]: items}}
        body["paging"] = paging(f"CURSOR-{number}", more=number < pages - 1)
        yield body


#: What holding every item would take, at the very least: one subject-sized string per item.
HOLDING_ALL = PAGES * ITEMS_PER_PAGE * sys.getsizeof("x" * SUBJECT_CHARS)


async def test_memory_stays_flat_over_many_pages(graph: ScriptedGraph, api: GroupsClient, listing: Listing) -> None:
    graph.record = False
    graph.bodies = many_pages(listing, 2)  # warm up: connection, converter hooks, first-use caches
    await keys_of(listing, listing.open(api))
    graph.bodies = many_pages(listing)
    gc.collect()
    count = 0
    last = ""
    tracemalloc.start()
    try:
        async for item in listing.open(api):
            count += 1
            last = listing.key(item)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == PAGES * ITEMS_PER_PAGE and last == f"{PAGES - 1}-{ITEMS_PER_PAGE - 1}"
    assert graph.count == 2 + PAGES
    # The paginator keeps one page (and the cursors it has seen), never the items it has yielded.
    assert peak < HOLDING_ALL / 4, f"peak {peak} bytes; holding every item takes more than {HOLDING_ALL}"


def test_the_memory_bound_would_catch_a_paginator_that_keeps_its_items() -> None:
    # Calibration of the bound above: decoding and keeping every item really costs more than it allows.
    wire = [json.dumps(body).encode() for body in many_pages(GROUPS)]
    tracemalloc.start()
    try:
        kept = [item for raw in wire for item in decode.decode_groups_page(json.loads(raw)).items]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == PAGES * ITEMS_PER_PAGE
    assert peak > HOLDING_ALL / 4


# --------------------------------------------------------------------------------------------- property


class EndOfScript(Exception):
    """The paginator asked for a page after the last generated one."""


CURSORS = st.sampled_from(["A", "B", "C", "D", "E"])  # few cursors, so repeats are common
#: Mostly well-formed "more follows" paging (so cursors get the chance to repeat), plus every odd shape.
PAGING = st.one_of(
    st.builds(lambda after: {"cursors": {"before": "BEFORE", "after": after}, "next": NEXT_URL}, CURSORS),
    st.builds(lambda after: {"cursors": {"before": "BEFORE", "after": after}, "next": NEXT_URL}, CURSORS),
    st.none(),
    st.just("not an object"),
    st.fixed_dictionaries(
        {},
        optional={
            "cursors": st.fixed_dictionaries(
                {}, optional={"before": CURSORS, "after": st.one_of(CURSORS, st.just(""), st.none())}
            ),
            "next": st.one_of(st.just(NEXT_URL), st.just(""), st.none()),
        },
    ),
)
PAGE = st.fixed_dictionaries(
    {
        "keys": st.lists(st.integers(0, 10_000).map(str), max_size=4),
        "paging": PAGING,
        "shape": st.integers(0, 1),
    }
)


def expected_outcome(
    listing: Listing, pages: list[dict[str, Any]], after: str | None, max_items: int | None
) -> tuple[list[str], type[Exception] | None, list[str | None]]:
    """What a correct paginator yields, raises and asks for, computed independently of the library."""
    out: list[str] = []
    asked: list[str | None] = []
    if max_items == 0:
        return out, None, asked
    remaining = max_items
    seen: set[str] = set() if after is None else {after}
    cursor = after
    for page in pages:
        asked.append(cursor)
        raw = page["paging"]
        if raw is not None and not isinstance(raw, dict):
            return out, ResponseError, asked
        raw = raw or {}
        cursors = raw.get("cursors") or {}
        next_after: str | None = cursors.get("after") or None
        has_next = bool(raw.get("next"))
        if has_next and next_after is None:
            return out, ResponseError, asked
        keys: list[str] = page["keys"]
        if remaining is not None:
            if len(keys) >= remaining:
                return out + keys[:remaining], None, asked
            remaining -= len(keys)
        out += keys
        if not has_next:
            return out, None, asked
        assert next_after is not None
        if next_after in seen:
            return out, PaginationError, asked
        seen.add(next_after)
        cursor = next_after
    asked.append(cursor)
    return out, EndOfScript, asked


def wire_body(listing: Listing, page: dict[str, Any]) -> Any:
    body = listing.body(page["keys"], shape=listing.shapes[page["shape"]])
    if page["paging"] is not None:
        body["paging"] = page["paging"]
    return body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from([GROUPS, JOIN_REQUESTS]),
    pages=st.lists(PAGE, min_size=1, max_size=8),
    after=st.one_of(st.none(), CURSORS),
    max_items=st.one_of(st.none(), st.integers(0, 12)),
)
async def test_paginator_over_any_pages_yields_the_concatenation_or_a_paging_error(
    kind: Listing, pages: list[dict[str, Any]], after: str | None, max_items: int | None
) -> None:
    decoder: Callable[[Any], Page[Any]] = (
        decode.decode_groups_page if kind is GROUPS else decode.decode_join_requests_page
    )
    bodies = [wire_body(kind, page) for page in pages]
    asked: list[str | None] = []

    async def fetch(cursor: str | None, want: int | None) -> Page[Any]:
        asked.append(cursor)
        if len(asked) > len(bodies):
            raise EndOfScript
        return decoder(bodies[len(asked) - 1])

    async def run() -> tuple[list[str], type[Exception] | None]:
        out: list[str] = []
        try:
            async for item in Paginator(fetch, after=after, max_items=max_items):
                out.append(kind.key(item))
        except (PaginationError, ResponseError, EndOfScript) as error:
            return out, type(error)
        return out, None

    want_items, want_error, want_asked = expected_outcome(kind, pages, after, max_items)
    event(f"outcome: {'complete' if want_error is None else want_error.__name__}")
    got_items, got_error = await run()
    assert (got_items, got_error) == (want_items, want_error)
    assert asked == want_asked
    assert len(asked) <= len(bodies) + 1  # never loops
