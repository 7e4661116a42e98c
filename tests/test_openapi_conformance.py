"""Every request the client sends, checked against Meta's OpenAPI file for the Groups API.

The client drives every endpoint against the fake Graph server; each recorded request (method, path, query,
headers, JSON body or multipart form) is then validated against ``meta-groups-openapi-v23.yaml``, read at test
time from :func:`conftest.reference_dir` (never copied into the repository). Schemas are checked with jsonschema,
``$ref``s resolved against the whole document.

Two documented gaps of Meta's file are bridged, each from Meta's own material rather than guessed:

* ``GET /{group_id}/invite_link`` is missing from the file but documented in Meta's group management guide;
  it is checked with the parameters the file gives the other methods of that path.
* The join-requests listing declares no query parameters although its answer carries Graph's cursor
  ``paging`` object; a listing whose answer has ``paging`` accepts the cursor parameters (``limit``, ``after``,
  ``before``) the file declares for the groups listing, with the same schemas.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import AsyncIterator, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import reference_dir, reference_missing
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from wa_groups import GroupsClient, JoinApprovalMode, RetryPolicy
from wa_groups.testing import FakeGraphAPI, RecordedRequest

yaml = pytest.importorskip("yaml", reason="pyyaml (a test extra) is needed to read Meta's OpenAPI file")

SPEC_PATH = reference_dir() / "meta-groups-openapi-v23.yaml"
GUIDE_PATH = reference_dir() / "cloud-api-group-management-guide.txt"
if not SPEC_PATH.is_file():
    if os.environ.get("CI"):
        raise RuntimeError(f"Meta's OpenAPI file is not at {SPEC_PATH}; CI must run these checks")
    pytest.skip(
        f"Meta's OpenAPI file is not at {SPEC_PATH}: set WA_GROUPS_REFERENCE_DIR to the folder holding "
        "meta-groups-openapi-v23.yaml",
        allow_module_level=True,
    )

SPEC_URI = "urn:wa-groups:meta-groups-openapi-v23"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: Operations Meta documents outside the OpenAPI file: (method, path template) -> (reference file, its text).
DOCUMENTED_ELSEWHERE: Mapping[tuple[str, str], tuple[str, str]] = {
    ("get", "/{Version}/{group_id}/invite_link"): (
        "cloud-api-group-management-guide.txt",
        "GET /<GROUP_ID>/invite_link",
    ),
}
#: Graph's cursor parameters, as the OpenAPI file declares them for the groups listing.
CURSOR_PARAMETERS_FROM = ("get", "/{Version}/{Phone-Number-ID}/groups")
CURSOR_PARAMETERS = ("limit", "after", "before")
AUTH_HEADERS = (("header", "Authorization"), ("header", "User-Agent"))


# ---------------------------------------------------------------------------------------------------- spec


@attrs.frozen
class Operation:
    """One operation of the spec with its parameters resolved."""

    method: str
    template: str
    pattern: re.Pattern[str]
    path_params: Mapping[str, Mapping[str, Any]]
    query_params: Mapping[str, Mapping[str, Any]]
    header_params: Mapping[str, Mapping[str, Any]]
    request_body: Mapping[str, Any] | None
    documented_elsewhere: bool = False


class Spec:
    """Meta's OpenAPI document with a jsonschema registry over it."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(dict(document), default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self.operations = self._operations()

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s (``#/components/...``) until a node without one."""
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"only local references are expected, got {ref}"
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validator(self, schema: Any) -> Draft202012Validator:
        """Return a validator for ``schema`` whose ``$ref``s resolve against the whole document."""
        return Draft202012Validator(_rebase(schema), registry=self.registry)

    def _parameters(self, raw: Iterable[Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        for parameter in raw:
            resolved = self.resolve(parameter)
            found[(resolved["in"], resolved["name"])] = resolved
        return found

    def _operation(
        self,
        method: str,
        template: str,
        parameters: Mapping[tuple[str, str], Mapping[str, Any]],
        request_body: Mapping[str, Any] | None,
        *,
        documented_elsewhere: bool = False,
    ) -> Operation:
        regex = "".join(
            f"(?P<p{index}>[^/]+)" if part.startswith("{") else re.escape(part)
            for index, part in enumerate(re.split(r"(\{[^}]+\})", template))
            if part
        )
        names = [part[1:-1] for part in re.split(r"(\{[^}]+\})", template) if part.startswith("{")]
        path_params = {name: parameters.get(("path", name), {"name": name, "in": "path"}) for name in names}
        return Operation(
            method=method,
            template=template,
            pattern=re.compile(regex),
            path_params=path_params,
            query_params={name: p for (where, name), p in parameters.items() if where == "query"},
            header_params={name.lower(): p for (where, name), p in parameters.items() if where == "header"},
            request_body=request_body,
            documented_elsewhere=documented_elsewhere,
        )

    def _operations(self) -> list[Operation]:
        operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            if not template.startswith("/{Version}/"):
                continue  # /whatsapp/webhooks is what Meta sends to us, not a Graph endpoint
            shared = self._parameters(item.get("parameters", ()))
            for method in METHODS:
                if method not in item:
                    continue
                raw = item[method]
                parameters = {**shared, **self._parameters(raw.get("parameters", ()))}
                if self._has_paging(raw):
                    for name in CURSOR_PARAMETERS:
                        parameters.setdefault(("query", name), self._cursor_parameter(name))
                body = self.resolve(raw["requestBody"]) if "requestBody" in raw else None
                operations.append(self._operation(method, template, parameters, body))
        for (method, template), _ in DOCUMENTED_ELSEWHERE.items():
            item = self.document["paths"][template]
            assert method not in item, f"{method.upper()} {template} is in the OpenAPI file now: drop the bridge"
            # Path parameters and the Authorization and User-Agent headers, as the path's other methods have them.
            borrowed = self._parameters(item.get("parameters", ()))
            for sibling in (self._parameters(item[m].get("parameters", ())) for m in METHODS if m in item):
                borrowed.update(
                    (key, value) for key, value in sibling.items() if key[0] == "path" or key in AUTH_HEADERS
                )
            operations.append(self._operation(method, template, borrowed, None, documented_elsewhere=True))
        return operations

    def _has_paging(self, raw: Mapping[str, Any]) -> bool:
        ok = self.resolve(raw.get("responses", {}).get("200", {}))
        schema = self.resolve(ok.get("content", {}).get("application/json", {}).get("schema", {}))
        return "paging" in schema.get("properties", {})

    def _cursor_parameter(self, name: str) -> Mapping[str, Any]:
        method, template = CURSOR_PARAMETERS_FROM
        raw = self.document["paths"][template][method]
        return self._parameters(raw.get("parameters", ()))[("query", name)]

    def match(self, method: str, path: str) -> list[tuple[Operation, dict[str, str]]]:
        """Return the operations whose method and path template match a request."""
        matches: list[tuple[Operation, dict[str, str]]] = []
        for operation in self.operations:
            if operation.method != method.lower():
                continue
            found = operation.pattern.fullmatch(path)
            if found is not None:
                values = list(found.groupdict().values())
                matches.append((operation, dict(zip(operation.path_params, values, strict=True))))
        return matches


def _rebase(schema: Any) -> Any:
    """Point a schema's local ``$ref``s (``#/components/...``) at the registered document."""
    if isinstance(schema, Mapping):
        return {
            key: (
                SPEC_URI + value
                if key == "$ref" and isinstance(value, str) and value.startswith("#")
                else _rebase(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(value) for value in schema]
    return schema


@cache
def load_spec(path: Path = SPEC_PATH) -> Spec:
    with path.open(encoding="utf-8") as handle:
        return Spec(yaml.safe_load(handle))


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


# ----------------------------------------------------------------------------------------------- checking


def _parameter_value(parameter: Mapping[str, Any], value: str) -> Any:
    """Turn a query/path string into the type the parameter's schema expects, for validation."""
    kind = parameter.get("schema", {}).get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _errors(spec: Spec, schema: Any, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in spec.validator(schema).iter_errors(instance)
    ]


def _declared_properties(spec: Spec, schema: Any) -> set[str] | None:
    """Top-level property names a schema declares (through allOf and $ref); None when it cannot tell."""
    schema = spec.resolve(schema)
    if not isinstance(schema, Mapping) or "oneOf" in schema or "anyOf" in schema:
        return None
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        more = _declared_properties(spec, part)
        if more is None:
            return None
        names |= more
    return names


def check_request(spec: Spec, request: RecordedRequest, *, api_version: str = "v23.0") -> list[str]:
    """Return every way ``request`` departs from Meta's OpenAPI file (empty when it conforms)."""
    where = f"{request.method} {request.path}"
    matches = spec.match(request.method, request.path)
    if not matches:
        return [f"{where}: no {request.method} operation of the OpenAPI file has this path"]
    if len(matches) > 1:
        return [f"{where}: ambiguous, matches {[m.template for m, _ in matches]}"]
    operation, path_values = matches[0]
    problems: list[str] = []

    # Path parameters: non-empty, valid, and the version the client was given.
    for name, value in path_values.items():
        if not value:
            problems.append(f"{where}: path parameter {name} is empty")
        schema = operation.path_params[name].get("schema")
        if schema is not None:
            problems += [f"{where}: path parameter {name}: {e}" for e in _errors(spec, schema, value)]
    if path_values.get("Version") != api_version:
        problems.append(f"{where}: version segment {path_values.get('Version')!r} is not {api_version!r}")

    # Query parameters: declared, valid, required ones present; the token never in the URL.
    for name, value in request.query.items():
        parameter = operation.query_params.get(name)
        if parameter is None:
            problems.append(f"{where}: query parameter {name!r} is not declared for {operation.template}")
            continue
        if "schema" in parameter:
            typed = _parameter_value(parameter, value)
            problems += [f"{where}: query {name}={value!r}: {e}" for e in _errors(spec, parameter["schema"], typed)]
    for name, parameter in operation.query_params.items():
        if parameter.get("required") and name not in request.query:
            problems.append(f"{where}: required query parameter {name!r} is missing")

    # Headers.
    headers = {name.lower(): value for name, value in request.headers.items()}
    has_body = request.json is not None or request.form is not None or bool(request.files)
    for name, parameter in operation.header_params.items():
        header = headers.get(name)
        if header is None:
            # Meta lists Content-Type as required even on operations that take no body (DELETE /{group_id}).
            if parameter.get("required") and not (name == "content-type" and not has_body):
                problems.append(f"{where}: required header {parameter['name']} is missing")
            continue
        schema = dict(parameter.get("schema", {}))
        if name == "content-type":
            header = header.split(";", 1)[0].strip()
        problems += [f"{where}: header {parameter['name']}={header!r}: {e}" for e in _errors(spec, schema, header)]
    authorization = headers.get("authorization", "")
    if not re.fullmatch(r"Bearer [A-Za-z0-9\-_.]+\S*", authorization):
        problems.append(f"{where}: Authorization is not 'Bearer <token>'")
    if "user-agent" not in headers:
        problems.append(f"{where}: no User-Agent header")

    # Body.
    body = operation.request_body
    media_type = headers.get("content-type", "").split(";", 1)[0].strip()
    if body is None:
        if has_body:
            problems.append(f"{where}: sends a body but {operation.template} takes none")
        return problems
    if not has_body:
        if body.get("required"):
            problems.append(f"{where}: the request body is required but none was sent")
        return problems
    content = body.get("content", {})
    if media_type not in content:
        problems.append(f"{where}: Content-Type {media_type!r} is not one of {sorted(content)}")
        return problems
    schema = content[media_type].get("schema", {})
    if media_type == "application/json":
        if request.json is None:
            return [*problems, f"{where}: Content-Type is JSON but the body is not JSON"]
        instance = request.json
    elif media_type == "multipart/form-data":
        instance = {**(request.form or {}), **{name: "<binary>" for name in request.files or {}}}
        for name in request.files or {}:
            part = spec.resolve(spec.resolve(schema).get("properties", {}).get(name, {}))
            if part.get("format") != "binary":
                problems.append(f"{where}: file part {name!r} is not a binary property of the form")
    else:
        return [*problems, f"{where}: unexpected media type {media_type!r}"]
    problems += [f"{where}: body {e}" for e in _errors(spec, schema, instance)]
    declared = _declared_properties(spec, schema)
    if declared is not None and isinstance(instance, Mapping):
        extra = sorted(set(instance) - declared)
        if extra:
            problems.append(f"{where}: body fields {extra} are not declared by the schema")
    return problems


# ----------------------------------------------------------------------------------------------- driving


def jpeg(side: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, side, side, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


async def drive_every_endpoint(fake: FakeGraphAPI, client: GroupsClient) -> None:
    """Call every GroupsClient endpoint at least once, with and without their options."""
    await client.create_group(
        "  Launch team  ",
        description="Everything about the launch",
        join_approval_mode=JoinApprovalMode.APPROVAL_REQUIRED,
    )
    await client.create_group("Plain", join_approval_mode="auto_approve")
    await client.create_group("Minimal")
    fake.add_groups(5, "Listed")

    first = await client.iter_groups(page_size=2, max_items=2).pages().__anext__()
    assert first.after is not None and first.has_next
    assert [g.id async for g in client.iter_groups(page_size=3, after=first.after)]
    assert [g.id async for g in client.iter_groups()]

    gid = fake.add_group("Target", join_approval_mode="approval_required")
    await client.get_group(gid)
    await client.get_group(gid, fields=["subject", "participants"])
    await client.get_group(gid, fields=["id", "messaging_product", "join_approval_mode"])
    await client.update_group(gid, subject="Renamed", description="New description")
    await client.update_group(gid, subject="Renamed again")
    await client.update_group(gid, description="")
    await client.set_group_picture(gid, jpeg(640))

    await client.get_invite_link(gid)
    await client.reset_invite_link(gid)
    await client.delete_invite_link(gid)

    await client.add_participants(gid, ["+1 (650) 555-1234", "16505551235", "US.13491208655302741918"])
    await client.remove_participants(gid, ["16505551234"])

    ids = fake.add_join_requests(gid, 5)
    listed = [r.join_request_id async for r in client.iter_join_requests(gid)]
    assert listed == ids
    assert [r.join_request_id async for r in client.iter_join_requests(gid, page_size=2, max_items=3)] == ids[:3]
    await client.approve_join_requests(gid, ids[:2])
    await client.reject_join_requests(gid, ids[2:4])

    await client.send_invite_link_template("+1 650 555 1234", group_id=gid, template_name="group_invite")
    await client.send_invite_link_template(
        "16505551236", group_id=gid, template_name="group_invite_utility", language="en_US"
    )

    doomed = fake.add_group("Doomed")
    await client.delete_group(doomed)


@pytest.fixture
async def recorded(fake: FakeGraphAPI, policy: RetryPolicy) -> AsyncIterator[list[RecordedRequest]]:
    async with fake.client(retry=policy) as client:
        await drive_every_endpoint(fake, client)
    assert all(request.status == 200 for request in fake.requests), [
        (r.method, r.path, r.status) for r in fake.requests if r.status != 200
    ]
    yield list(fake.requests)


# --------------------------------------------------------------------------------------------------- tests


def test_the_spec_is_read_and_has_the_groups_operations(spec: Spec) -> None:
    documented = {(op.method, op.template) for op in spec.operations if not op.documented_elsewhere}
    assert len(documented) == 13
    assert ("post", "/{Version}/{Phone-Number-ID}/messages") in documented
    assert spec.resolve({"$ref": "#/components/schemas/Message"})["oneOf"]


def test_operations_documented_elsewhere_really_are(spec: Spec) -> None:
    if not GUIDE_PATH.is_file():
        reference_missing(f"Meta's group management guide is not at {GUIDE_PATH}")
    for (method, template), (name, text) in DOCUMENTED_ELSEWHERE.items():
        assert text in (reference_dir() / name).read_text(encoding="utf-8"), (method, template)


async def test_every_recorded_request_conforms(spec: Spec, recorded: list[RecordedRequest]) -> None:
    problems = [problem for request in recorded for problem in check_request(spec, request)]
    assert problems == [], "\n".join(problems)
    assert len(recorded) >= 25


async def test_every_groups_endpoint_of_the_spec_is_exercised(spec: Spec, recorded: list[RecordedRequest]) -> None:
    exercised = {
        (operation.method, operation.template)
        for request in recorded
        for operation, _ in spec.match(request.method, request.path)
    }
    wanted = {(op.method, op.template) for op in spec.operations}
    missing = sorted(wanted - exercised)
    assert missing == [], f"never exercised: {missing}"


async def test_bodies_and_options_reach_the_wire(spec: Spec, recorded: list[RecordedRequest]) -> None:
    by_template: dict[tuple[str, str], list[RecordedRequest]] = {}
    for request in recorded:
        for operation, _ in spec.match(request.method, request.path):
            by_template.setdefault((operation.method, operation.template), []).append(request)
    creates = by_template[("post", "/{Version}/{Phone-Number-ID}/groups")]
    assert creates[0].json == {
        "messaging_product": "whatsapp",
        "subject": "Launch team",
        "description": "Everything about the launch",
        "join_approval_mode": "approval_required",
    }
    assert creates[2].json == {"messaging_product": "whatsapp", "subject": "Minimal"}
    listings = [r.query for r in by_template[("get", "/{Version}/{Phone-Number-ID}/groups")]]
    assert listings[0] == {"limit": "2"} and {} in listings
    assert any(query.get("limit") == "3" and query.get("after") for query in listings)
    gets = [r.query["fields"].split(",") for r in by_template[("get", "/{Version}/{group_id}")]]
    assert gets[1:] == [["subject", "participants"], ["id", "messaging_product", "join_approval_mode"]]
    # Every field asked for (all of them by default) is a property of Meta's GroupInfo schema.
    group_info = set(spec.resolve({"$ref": "#/components/schemas/GroupInfo"})["properties"])
    assert set(gets[0]) == group_info - {"id", "messaging_product"}
    assert all(set(fields) <= group_info for fields in gets)
    pictures = [r for r in by_template[("post", "/{Version}/{group_id}")] if r.files]
    assert len(pictures) == 1 and pictures[0].form == {"messaging_product": "whatsapp"}
    assert pictures[0].headers["Content-Type"].startswith("multipart/form-data; boundary=")
    templates = by_template[("post", "/{Version}/{Phone-Number-ID}/messages")]
    assert [r.json["template"]["language"]["code"] for r in templates] == ["en", "en_US"]


async def test_the_template_message_validates_against_the_message_one_of(
    spec: Spec, recorded: list[RecordedRequest]
) -> None:
    messages = [r for r in recorded if r.path.endswith("/messages")]
    message = spec.resolve({"$ref": "#/components/schemas/Message"})
    template = {"$ref": "#/components/schemas/TemplateMessage"}
    for request in messages:
        assert _errors(spec, message, request.json) == []
        assert _errors(spec, template, request.json) == []
        # Exactly one branch of the oneOf accepts it, and it is the template branch.
        accepted = [branch["$ref"] for branch in message["oneOf"] if not _errors(spec, branch, request.json)]
        assert accepted == ["#/components/schemas/TemplateMessage"]


# ------------------------------------------------------------------------------- the checker checks


def recorded_request(**changes: Any) -> RecordedRequest:
    base: dict[str, Any] = {
        "method": "POST",
        "path": "/v23.0/GROUP/participants",
        "query": {},
        "headers": {
            "Authorization": "Bearer EAAtoken",
            "User-Agent": "wa-groups/0.1.0",
            "Content-Type": "application/json",
        },
        "json": {"messaging_product": "whatsapp", "participants": [{"user": "16505551234"}]},
        "form": None,
        "files": None,
        "status": 200,
    }
    base.update(changes)
    return RecordedRequest(**base)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({}, None),
        ({"method": "PUT"}, "no PUT operation"),
        ({"path": "/v23.0/GROUP/members"}, "no POST operation"),
        ({"path": "/v23.0//participants"}, "no POST operation"),
        ({"path": "/v22.0/GROUP/participants"}, "version segment"),
        ({"query": {"access_token": "EAAtoken"}}, "'access_token' is not declared"),
        ({"headers": {"User-Agent": "wa-groups/0.1.0", "Content-Type": "application/json"}}, "Authorization"),
        (
            {
                "headers": {
                    "Authorization": "Token x",
                    "User-Agent": "wa-groups/0.1.0",
                    "Content-Type": "application/json",
                }
            },
            "Authorization",
        ),
        (
            {"headers": {"Authorization": "Bearer x", "User-Agent": "wa groups", "Content-Type": "application/json"}},
            "User-Agent",
        ),
        ({"headers": {"Authorization": "Bearer x", "Content-Type": "application/json"}}, "no User-Agent"),
        ({"headers": {"Authorization": "Bearer x", "User-Agent": "wa-groups/0.1.0"}}, "Content-Type"),
        (
            {"headers": {"Authorization": "Bearer x", "User-Agent": "a/1.0.0", "Content-Type": "text/plain"}},
            "Content-Type",
        ),
        ({"json": {"participants": [{"user": "1"}]}}, "'messaging_product' is a required property"),
        ({"json": {"messaging_product": "whatsapp", "participants": []}}, "should be non-empty"),
        (
            {"json": {"messaging_product": "whatsapp", "participants": [{"user": str(n)} for n in range(9)]}},
            "is too long",
        ),
        (
            {"json": {"messaging_product": "whatsapp", "participants": [{"user": 16505551234}]}},
            "is not of type 'string'",
        ),
        ({"json": {"messaging_product": "whatsapp", "participants": [{"user": "1"}], "extra": 1}}, "not declared"),
        ({"json": None}, "required but none was sent"),
    ],
)
def test_the_checker_flags_departures(spec: Spec, changes: dict[str, Any], complaint: str | None) -> None:
    problems = check_request(spec, recorded_request(**changes))
    if complaint is None:
        assert problems == []
    else:
        assert any(complaint in problem for problem in problems), problems


def test_the_checker_flags_bad_query_and_message_bodies(spec: Spec) -> None:
    listing = recorded_request(method="GET", path="/v23.0/PHONE/groups", json=None, query={"limit": "0"})
    assert any("limit" in p for p in check_request(spec, listing))
    assert (
        check_request(
            spec, recorded_request(method="GET", path="/v23.0/PHONE/groups", json=None, query={"limit": "1024"})
        )
        == []
    )
    fields = recorded_request(method="GET", path="/v23.0/GROUP", json=None, query={"fields": "subject", "debug": "all"})
    assert any("'debug' is not declared" in p for p in check_request(spec, fields))
    text = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "template"}
    message = recorded_request(path="/v23.0/PHONE/messages", json=text)
    assert any("body" in p for p in check_request(spec, message))
    no_body = recorded_request(
        method="DELETE", path="/v23.0/GROUP", json=None, headers={"Authorization": "Bearer x", "User-Agent": "a/1.0.0"}
    )
    assert check_request(spec, no_body) == []
    picture = recorded_request(
        path="/v23.0/GROUP",
        json=None,
        form={"messaging_product": "whatsapp"},
        files={"photo": b"\xff\xd8"},
        headers={
            "Authorization": "Bearer x",
            "User-Agent": "a/1.0.0",
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert any("'photo'" in p for p in check_request(spec, picture))


# ------------------------------------------------------------------------------------------ group messages

#: The schema of each message type's own object, as Meta's file declares it inside the type's message schema.
_CONTENT_SCHEMAS = {
    "text": ("TextMessage", "text"),
    "image": ("ImageMessage", "image"),
    "video": ("VideoMessage", "video"),
    "audio": ("AudioMessage", "audio"),
    "document": ("DocumentMessage", "document"),
    "template": ("TemplateMessage", "template"),
}


def _content_schema(spec: Spec, kind: str) -> Any:
    name, key = _CONTENT_SCHEMAS[kind]
    branches = spec.resolve({"$ref": f"#/components/schemas/{name}"})["allOf"]
    return next(spec.resolve(b)["properties"][key] for b in branches if key in spec.resolve(b).get("properties", {}))


async def test_every_group_send_helper_validates_against_base_message_properties(
    spec: Spec, fake: FakeGraphAPI, policy: RetryPolicy
) -> None:
    """Each helper's body has Meta's envelope (``BaseMessageProperties``, ``recipient_type: group``) and a type
    object that validates against the schema Meta's file gives that type.

    The whole-body ``oneOf`` of ``Message`` cannot be used: its text and media branches put
    ``additionalProperties: false`` beside an ``allOf`` that declares the envelope elsewhere, so no complete
    body (Meta's own examples included) passes them.
    """
    gid = fake.add_group("Team", participants=["16505551234"])
    async with fake.client(retry=policy) as client:
        first = await client.send_text(gid, "Hello group", preview_url=True)
        await client.send_text(gid, "A reply", reply_to=first.message_id)
        for kind in ("image", "video", "document"):
            await client.send_media(gid, kind, link="https://example.com/file", caption="Look")
        await client.send_media(gid, "audio", media_id="1479537139650973")
        await client.send_media(gid, "document", media_id="1479537139650973", filename="plan.pdf")
        await client.send_template(
            gid, "promo_v2", "en_US", components=[{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]
        )
        await client.send_message(gid, {"type": "text", "text": {"body": "raw"}})
        assert first.message_id is not None
        await client.pin_message(gid, first.message_id, days=4)
        await client.unpin_message(gid, first.message_id)
    sends = [r for r in fake.requests if r.path.endswith("/messages")]
    assert len(sends) == 11 and all(r.status == 200 for r in sends)
    base = {"$ref": "#/components/schemas/BaseMessageProperties"}
    declared = set(spec.resolve(base)["properties"])
    for request in sends:
        body = request.json
        assert isinstance(body, dict)
        assert _errors(spec, base, body) == [], body
        assert body["recipient_type"] == "group" and body["to"] == gid
        kind = body["type"]
        assert set(body) - declared == {kind}, body  # the envelope, and the type's own object only
        if kind != "pin":  # v23.0 has no pin type: the pin body is checked against Meta's page below
            assert _errors(spec, _content_schema(spec, kind), body[kind]) == [], body
        problems = [p for p in check_request(spec, request) if ": body" not in p and "not declared" not in p]
        assert problems == [], problems
    pins = [r.json for r in sends if r.json and r.json["type"] == "pin"]
    assert pins == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "group",
            "to": gid,
            "type": "pin",
            "pin": {"type": "pin", "message_id": first.message_id, "expiration_days": 4},
        },
        {
            "messaging_product": "whatsapp",
            "recipient_type": "group",
            "to": gid,
            "type": "pin",
            "pin": {"type": "unpin", "message_id": first.message_id},
        },
    ]
    assert sends[1].json is not None and sends[1].json["context"] == {"message_id": first.message_id}
