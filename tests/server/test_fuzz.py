"""Fuzzing the whole local server: every registered route, with hypothesis-made requests.

The routes are read from :data:`clarimap.server.routing.routes` once the server has imported its
route modules, so a route added later is fuzzed without touching this file. For each route the
requests carry tricky path ids (existing ids of a seeded server among them), odd query strings,
and bodies of three families: arbitrary JSON values, mutations of a valid body for that route, and
raw bytes that are not JSON (or not UTF-8). Every answer must be JSON with a status envelope,
never a 5xx, and a 4xx must say what was wrong (DESIGN.md, "What stays true").

The in-process transport carries most examples (fast); a smaller variant goes over waitress on
127.0.0.1, plus raw socket requests with broken HTTP framing. ``HYPOTHESIS_PROFILE=thorough``
runs ten times more examples.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import attrs
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from clarimap.server import ServerApp, create_app, status
from clarimap.server.http import HTTPServer
from clarimap.server.routing import Route, routes
from clarimap.transport.wsgi import local_session

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
# Examples per body family in process; the HTTP variant runs a tenth of them.
EXAMPLES = {"dev": 40, "thorough": 2000}.get(_PROFILE, 200)
HTTP_EXAMPLES = max(10, EXAMPLES // 10)

GENERAL = "aaa03c23b3724a16a56b629203edc62c"
COLOR = "eeed0b6733a644cea07cf4c60f87ebb7"

_buffer = io.BytesIO()
Image.new("RGB", (8, 8), (200, 30, 30)).save(_buffer, format="PNG")
PNG = base64.b64encode(_buffer.getvalue()).decode()

# -- the seeded server ----------------------------------------------------------------------------


@attrs.define
class Seeded:
    """A server with a few objects of every kind, and a way to send it raw requests."""

    app: ServerApp
    base_url: str
    session: requests.Session
    ids: dict[str, list[str]]  # path parameter name -> ids that exist

    def send(
        self, method: str, path_and_query: str, data: bytes | None, headers: dict[str, str]
    ) -> requests.Response:
        return self.session.request(
            method, f"{self.base_url}{path_and_query}", data=data, headers=headers, timeout=60
        )


def seed(app: ServerApp, base_url: str, session: requests.Session) -> Seeded:
    """Create inputs, concepts, a trained model and a workflow through the API itself."""

    def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = session.request(method, f"{base_url}/v2/{path}", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    call("POST", "concepts", {"concepts": [{"id": "cat"}, {"id": "dog", "name": "Dog"}]})
    inputs = [
        {
            "id": f"in{number}",
            "data": {
                "image": {"base64": PNG},
                "concepts": [{"id": concept, "value": 1}],
                "metadata": {"owner": "ana", "n": number},
                "geo": {"geo_point": {"longitude": number, "latitude": 2.0}},
            },
        }
        for number, concept in ((1, "cat"), (2, "dog"), (3, "cat"))
    ]
    call("POST", "inputs", {"inputs": inputs})
    concepts = [{"id": "cat", "value": 1}, {"id": "dog", "value": 1}]
    call(
        "POST", "models", {"model": {"id": "pets", "output_info": {"data": {"concepts": concepts}}}}
    )
    version = call("POST", "models/pets/versions", {})["model"]["model_version"]["id"]
    call(
        "POST",
        "workflows",
        {"workflows": [{"id": "wf", "nodes": [{"id": "color", "model": {"id": COLOR}}]}]},
    )
    ids = {
        "input_id": ["in1", "in2", "in3"],
        "concept_id": ["cat", "dog"],
        "model_id": ["pets", GENERAL, COLOR],
        "version_id": [version],
        "workflow_id": ["wf"],
        "user_id": ["me", "local", "clarifai"],
    }
    return Seeded(app, base_url, session, ids)


@contextmanager
def seeded_in_process() -> Iterator[Seeded]:
    app = create_app(":memory:", background=False, download_timeout=0.5)
    session = local_session("local://:memory:", app=app)
    try:
        yield seed(app, "local://:memory:", session)
    finally:
        session.close()
        app.close()


@contextmanager
def seeded_over_http() -> Iterator[Seeded]:
    app = create_app(":memory:", background=False, download_timeout=0.5)
    try:
        with HTTPServer(app, "127.0.0.1", 0) as server, requests.Session() as session:
            yield seed(app, server.url, session)
    finally:
        app.close()


def registered_routes() -> list[Route]:
    """Every route the server has registered (``create_app`` imported the route modules)."""
    return list(routes.routes)


# -- valid bodies, one per route family (wire reference, sections 5 to 8) --------------------------

IMAGE_DATA = {"image": {"base64": PNG}}
PREDICT = {
    "inputs": [{"id": "p1", "data": IMAGE_DATA}],
    "model": {
        "output_info": {
            "output_config": {
                "min_value": 0.1,
                "max_concepts": 3,
                "select_concepts": [{"id": "cat"}],
            }
        }
    },
}
CURRENT_SEARCH = {
    "searches": [
        {
            "query": {
                "filters": [
                    {"annotation": {"data": {"concepts": [{"id": "cat", "value": 1}]}}},
                    {"input": {"data": {"metadata": {"owner": "ana"}}}, "negate": False},
                ],
                "ranks": [{"annotation": {"data": {"image": {"base64": PNG}}}}],
                "language": "en",
            }
        }
    ],
    "pagination": {"page": 1, "per_page": 5},
    "only_count": False,
}
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "concepts"): {"concepts": [{"id": "bird", "name": "Bird"}]},
    ("PATCH", "concepts"): {"action": "overwrite", "concepts": [{"id": "cat", "name": "Kitty"}]},
    ("POST", "concepts/searches"): {
        "concept_query": {"name": "c*", "language": "en"},
        "pagination": {"page": 1, "per_page": 5},
    },
    ("POST", "inputs"): {
        "inputs": [
            {
                "id": "new1",
                "data": {
                    **IMAGE_DATA,
                    "concepts": [{"id": "cat", "value": 1}],
                    "metadata": {"owner": "bo", "tags": ["a", {"b": None}]},
                    "geo": {"geo_point": {"longitude": 10.5, "latitude": -3.25}},
                    "regions": [
                        {
                            "id": "r1",
                            "region_info": {
                                "bounding_box": {
                                    "top_row": 0.1,
                                    "left_col": 0.1,
                                    "bottom_row": 0.5,
                                    "right_col": 0.5,
                                }
                            },
                        }
                    ],
                },
            }
        ]
    },
    ("PATCH", "inputs"): {
        "action": "merge",
        "inputs": [
            {
                "id": "in1",
                "data": {"metadata": {"owner": "cy"}, "concepts": [{"id": "dog", "value": 0}]},
            }
        ],
    },
    ("DELETE", "inputs"): {"ids": ["in3"]},
    ("POST", "models"): {
        "model": {
            "id": "m2",
            "name": "m2",
            "output_info": {
                "data": {"concepts": [{"id": "cat", "value": 1}]},
                "output_config": {"concepts_mutually_exclusive": True, "hyper_params": {"a": 1}},
            },
        }
    },
    ("PATCH", "models"): {
        "action": "merge",
        "models": [{"id": "pets", "output_info": {"data": {"concepts": [{"id": "dog"}]}}}],
    },
    ("DELETE", "models"): {"ids": ["m2"]},
    ("POST", "models/searches"): {"model_query": {"name": "gen*", "type": "concept"}},
    ("POST", "models/{model_id}/outputs"): PREDICT,
    ("POST", "models/{model_id}/versions/{version_id}/outputs"): PREDICT,
    ("POST", "models/{model_id}/feedback"): {
        "input": {
            "id": "in1",
            "data": {**IMAGE_DATA, "concepts": [{"id": "cat", "value": 1}]},
            "feedback_info": {
                "end_user_id": "u",
                "session_id": "s",
                "event_type": "annotation",
                "output_id": "o1",
            },
        }
    },
    ("POST", "searches"): {
        "query": {
            "ands": [
                {"input": {"data": {"concepts": [{"name": "cat", "value": 1}]}}},
                {"output": {"input": {"id": "in1", "data": {"image": {}}}}},
                {
                    "input": {
                        "data": {
                            "geo": {
                                "geo_point": {"longitude": 1, "latitude": 2},
                                "geo_limit": {"type": "withinKilometers", "value": 500},
                            }
                        }
                    }
                },
            ],
            "language": "en",
        },
        "pagination": {"page": 1, "per_page": 5},
    },
    ("POST", "searches/feedback"): {
        "input": {"id": "in1", "feedback_info": {"event_type": "search_click", "search_id": "s"}}
    },
    ("POST", "inputs/searches"): CURRENT_SEARCH,
    ("POST", "annotations/searches"): CURRENT_SEARCH,
    ("POST", "workflows"): {
        "workflows": [{"id": "wf2", "nodes": [{"id": "c", "model": {"id": COLOR}}]}]
    },
    ("PATCH", "workflows"): {
        "action": "overwrite",
        "workflows": [{"id": "wf", "nodes": [{"id": "g", "model": {"id": COLOR}}]}],
    },
    ("DELETE", "workflows"): {"ids": ["wf2"]},
    ("POST", "workflows/{workflow_id}/results"): {
        "inputs": [{"data": IMAGE_DATA}],
        "output_config": {"max_concepts": 3, "min_value": 0.2},
    },
}
VALID_BODIES[("POST", "models/{model_id}/versions/{version_id}/feedback")] = VALID_BODIES[
    ("POST", "models/{model_id}/feedback")
]


def valid_body(route: Route) -> dict[str, Any]:
    """The valid example body of ``route`` (``{}`` for routes that take none, or new ones)."""
    return copy.deepcopy(VALID_BODIES.get((route.method, "/".join(route.segments)), {}))


# -- strategies -----------------------------------------------------------------------------------

TRICKY_STRINGS = [
    "",
    " ",
    "  in1 ",
    "..",
    ".",
    "a/b",
    "%2F",
    "NaN",
    "Infinity",
    "-Infinity",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
    "猫",
    "é\u0301",
    "\u202e",
    "\x00",
    "\ud800",  # a lone surrogate: valid in JSON text, not encodable as UTF-8
    "x" * 300,
    "y" * 70_000,
    "'; DROP TABLE inputs; --",
    "merge",
    "overwrite",
    "remove",
    "withinKilometers",
    "*",
    "%",
    "_",
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**40, -(10**40)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(TRICKY_STRINGS),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(TRICKY_STRINGS[:10]), children, max_size=4
        )
    ),
    max_leaves=20,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


arbitrary_bodies = json_values | st.integers(1, 60).map(nested)

# Field names the server knows, so mutations and unknown keys hit real code paths.
FIELD_NAMES = [
    "id",
    "ids",
    "inputs",
    "input",
    "data",
    "concepts",
    "metadata",
    "image",
    "url",
    "base64",
    "crop",
    "value",
    "action",
    "delete_all",
    "model",
    "models",
    "output_info",
    "output_config",
    "workflows",
    "nodes",
    "query",
    "ands",
    "searches",
    "filters",
    "ranks",
    "pagination",
    "page",
    "per_page",
    "user_app_id",
    "geo",
    "geo_point",
    "geo_box",
    "geo_limit",
    "regions",
    "name",
    "language",
    "only_count",
    "model_version",
]


def retyped(value: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type than ``value``."""
    candidates: list[Any] = [None, True, 0, -1, 2**70, 1.5, float("nan"), "", "x", "NaN"]
    candidates += [[], [value], {}, {"id": value}, TRICKY_STRINGS[-9]]
    return st.sampled_from(
        [c for c in candidates if type(c) is not type(value) or isinstance(c, (list, dict))]
    )


BOUNDARY_NUMBERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**40, 1e308, -1e308, 5e-324, -0.0, 0.5]


def boundary(value: Any) -> st.SearchStrategy[Any]:
    """An edge value of the same JSON type as ``value`` (huge numbers, odd strings, long lists)."""
    if isinstance(value, bool):
        return st.sampled_from([not value])
    if isinstance(value, (int, float)):
        return st.sampled_from(BOUNDARY_NUMBERS)
    if isinstance(value, str):
        return st.sampled_from(TRICKY_STRINGS)
    if isinstance(value, list):
        return st.sampled_from([[], value * 129, value * 2]) if value else st.just([])
    if isinstance(value, dict):
        return st.just({})
    return json_values


def node_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value`` (the root is ``()``)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from node_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from node_paths(item, (*prefix, index))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def mutate_once(draw: st.DrawFn, body: Any) -> Any:
    """Replace, delete, duplicate or retype one value of ``body``, or add an unknown field."""
    path = draw(st.sampled_from(list(node_paths(body))))
    operation = draw(
        st.sampled_from(["replace", "delete", "duplicate", "retype", "boundary", "add"])
    )
    if not path:
        if operation in ("replace", "retype", "delete", "boundary"):
            return draw(retyped(body) if operation == "retype" else json_values)
        target, key = None, None
    else:
        target = body
        for step in path[:-1]:
            target = target[step]
        key = path[-1]
    if operation == "add" or target is None:
        holder = body if target is None else target[key]  # type: ignore[index]
        if isinstance(holder, dict):
            holder[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=6))] = draw(json_values)
        elif isinstance(holder, list):
            holder.append(draw(json_values))
        return body
    assert target is not None and key is not None
    if operation == "replace":
        target[key] = draw(json_values)
    elif operation == "retype":
        target[key] = draw(retyped(target[key]))
    elif operation == "boundary":
        target[key] = draw(boundary(target[key]))
    elif operation == "delete":
        del target[key]
    elif isinstance(target, list):
        target.insert(key, copy.deepcopy(target[key]))
    else:  # a field under its lowerCamelCase JSON name too, or a copy under a new name
        alias = _camel(key) if _camel(key) != key else f"{key}_copy"
        target[alias] = copy.deepcopy(target[key])
    return body


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        body = mutate_once(draw, body)
    return body


RAW_BODY_SAMPLES: list[bytes] = [
    b"\xff\xfe{\x00}\x00",
    b'{"inputs": [',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"1e999999",
    b'{"ids": [NaN, Infinity]}',
    b'{"inputs": [{"id": "\\ud800"}]}',
    b'{"ids": ["\\udfff"]}',
    b'{"concepts": [{"id": "\xe9"}]}',
    b'{"a": 1} trailing',
    b"\x00\x00\x00",
    '{"action": "merge"}'.encode("utf-16"),
    b'{"page": 1, "page": "x"}',
]
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(RAW_BODY_SAMPLES),
    st.text(max_size=30).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def path_ids(existing: list[str]) -> st.SearchStrategy[str]:
    """A path segment, already percent-encoded (or deliberately raw)."""
    quoted = (st.sampled_from(TRICKY_STRINGS[:-12]) | st.text(max_size=12)).map(
        lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
    )
    raw = st.sampled_from(["..", ".", "%2F", "%2e%2e", "%ZZ", "%ED%A0%80", "%FF", "a%00b", "~"])
    existing_ids = st.sampled_from(existing or ["x"])
    tricky = quoted | raw | st.just("z" * 2000)
    return st.integers(0, 1).flatmap(lambda pick: existing_ids if pick else tricky)


QUERY_KEYS = ["page", "per_page", "version_id", "user_app_id.user_id", "user_app_id.app_id"]
QUERY_KEYS += ["ids", "name", "type", "status", "unknown", "sort_ascending", ""]
query_values = st.one_of(
    st.integers().map(str),
    st.sampled_from(["1.5", "1e3", "-0", "+1", " 2", "0x10", "\uff19", str(2**64), str(10**400)]),
    st.sampled_from(["", "true", "null", "NaN", "[1]", "me", "default", "pets"]),
    st.sampled_from(TRICKY_STRINGS[:-12]),
    st.text(max_size=10),
)
query_strings = st.one_of(
    st.lists(
        st.tuples(st.sampled_from(QUERY_KEYS) | st.text(max_size=5), query_values), max_size=5
    ).map(lambda pairs: urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])),
    st.sampled_from(
        ["page", "=&=&", "page=%FF", "per_page=%ZZ", "a=%ED%A0%80", "&&&", "page=1&page=2"]
    ),
)


@attrs.frozen
class Call:
    """One fuzzed request."""

    method: str
    path: str
    query: str
    body: bytes | None
    headers: dict[str, str]

    def __str__(self) -> str:
        shown = self.body[:300] if self.body is not None else None
        return f"{self.method} {self.path}?{self.query} body={shown!r} headers={self.headers}"


def encode_json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def calls(seeded: Seeded, family: str) -> st.SearchStrategy[Call]:
    """Requests to every registered route with bodies of ``family``: json, mutated or raw."""
    route_list = registered_routes()

    @st.composite
    def build(draw: st.DrawFn) -> Call:
        route = draw(st.sampled_from(route_list))
        segments = []
        for segment in route.segments:
            if segment.startswith("{"):
                segments.append(draw(path_ids(seeded.ids.get(segment[1:-1], []))))
            else:
                segments.append(segment)
        prefix = "/v2/"
        if route.app_scoped and draw(st.integers(0, 3)) == 0:
            user = draw(st.sampled_from(["me", "local", "me", "clarifai", "someone", "%2F"]))
            app = draw(st.sampled_from(["default", "default", "main", "other", "%20"]))
            prefix = f"/v2/users/{user}/apps/{app}/"
        method = (
            route.method
            if draw(st.integers(0, 9))
            else draw(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]))
        )
        if family == "json":
            body: bytes | None = encode_json(draw(arbitrary_bodies))
        elif family == "mutated":
            body = encode_json(draw(mutated(valid_body(route))))
        else:
            body = draw(raw_bodies)
        if draw(st.integers(0, 9)) == 0:
            body = None
        headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain", ""]))}
        if draw(st.integers(0, 9)) == 0:
            headers["Authorization"] = draw(st.sampled_from(["", "Key", "Bearer x y", "Key é"]))
        return Call(method, prefix + "/".join(segments), draw(query_strings), body, headers)

    return build()


# -- what every answer must be --------------------------------------------------------------------


def _not_json(name: str) -> Any:
    raise AssertionError(f"the answer holds {name}, which is not JSON")


def check_answer(call: Call, http_status: int, content_type: str, content: bytes) -> None:
    """JSON with a status envelope; never 5xx; a 4xx says what was wrong; no traceback."""
    where = f"{call}\n-> {http_status} {content[:500]!r}"
    assert content_type.startswith("application/json"), where
    body = json.loads(content, parse_constant=_not_json)  # strict: no NaN / Infinity
    assert isinstance(body, dict), where
    envelope = body.get("status")
    assert isinstance(envelope, dict), where
    code = envelope.get("code")
    assert isinstance(code, int) and not isinstance(code, bool), where
    assert isinstance(envelope.get("description"), str) and envelope["description"], where
    assert http_status < 500, where
    if 400 <= http_status < 500:
        details = envelope.get("details")
        says_what = isinstance(details, str) and details.strip()
        assert says_what or envelope["description"] != status.description(code), where
    assert b"Traceback" not in content, where


def send_and_check(seeded: Seeded, call: Call) -> None:
    path_and_query = f"{call.path}?{call.query}" if call.query else call.path
    headers = {k: v for k, v in call.headers.items() if v or k == "Authorization"}
    answer = seeded.send(call.method, path_and_query, call.body, headers)
    if call.method == "HEAD":  # the headers of the answer, never a body
        assert answer.status_code < 500, str(call)
        assert answer.content == b"", str(call)
        return
    check_answer(call, answer.status_code, answer.headers.get("Content-Type", ""), answer.content)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None if _PROFILE == "ci" else settings.default.database,
)


def run_fuzz(seeded: Seeded, family: str, examples: int) -> None:
    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(call=calls(seeded, family))
    def fuzz(call: Call) -> None:
        send_and_check(seeded, call)

    fuzz()


# -- the tests ------------------------------------------------------------------------------------

FAMILIES = ["json", "mutated", "raw"]


def test_the_valid_examples_name_registered_routes() -> None:
    """The mutation family starts from real bodies: each example names a registered route."""
    with seeded_in_process():
        known = {(r.method, "/".join(r.segments)) for r in registered_routes()}
    assert set(VALID_BODIES) <= known, set(VALID_BODIES) - known
    assert len(known) >= 40  # every route module registered its routes


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_in_process(family: str) -> None:
    with seeded_in_process() as seeded:
        run_fuzz(seeded, family, EXAMPLES)


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_over_http(family: str) -> None:
    with seeded_over_http() as seeded:
        run_fuzz(seeded, family, HTTP_EXAMPLES)


def test_every_route_answers_the_raw_body_samples() -> None:
    """The raw samples (deep nesting, bad UTF-8, NaN...) sent to every route, in both forms."""
    with seeded_in_process() as seeded:
        ids = {name: values[0] for name, values in seeded.ids.items()}
        for route in registered_routes():
            path = "/".join(route.segments).format(**ids)
            for prefix in ("/v2/", "/v2/users/me/apps/default/") if route.app_scoped else ("/v2/",):
                for body in RAW_BODY_SAMPLES:
                    send_and_check(seeded, Call(route.method, prefix + path, "", body, {}))


def test_valid_examples_are_accepted() -> None:
    """Each valid example body, sent alone to a fresh seeded server, succeeds (2xx)."""
    with seeded_in_process() as seeded:
        ids = {name: values[0] for name, values in seeded.ids.items()}
        for (method, pattern), body in VALID_BODIES.items():
            path = pattern.format(**ids)
            answer = seeded.send(method, f"/v2/{path}", encode_json(body), {})
            assert answer.status_code == 200, (method, path, answer.text)


# -- raw HTTP framing over waitress ---------------------------------------------------------------

RAW_REQUESTS: list[bytes] = [
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4\r\n{"in\r\n9\r\nputs": []\r\n1\r\n}\r\n0\r\n\r\n',
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
    b"0\r\n\r\n",
    b"GET /v2/inputs HTTP/1.0\r\n\r\n",
    b"GET /v2/inputs HTTP/1.1\r\n\r\n",
    b"GET /v2/inputs\r\n\r\n",
    b"GET /v2/in\xffputs HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v2/inputs/%ED%A0%80 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://other/v2/inputs HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET v2/inputs HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /v2/inputs HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v2/inputs HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /v2/inputs HTTP/1.1\r\nHost: x\r\nAuthorization: Key \xe9\xff\r\n\r\n",
    b"GET /v2/inputs HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    b"GET /v2/inputs HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"GET /v2/inputs HTTP/1.1\r\nHost: x\r\n Folded: value\r\n\r\n",
    b"GET /v2/inputs?page=%FF&per_page=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PATCH /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x00",
    b"\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32 + b"\r\n\r\n",
]


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection, half-close it, and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def parse_first_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    code = int(status_line.split(" ")[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return code, headers, rest[:length]


@pytest.mark.parametrize("request_bytes", RAW_REQUESTS, ids=lambda r: repr(r[:40]))
def test_raw_http_requests_get_a_json_answer_without_a_traceback(
    http_server: HTTPServer, request_bytes: bytes
) -> None:
    """Broken framing, answered by waitress or by the app: JSON in the envelope, never 5xx."""
    data = raw_exchange(http_server.port, request_bytes)
    if request_bytes.strip() == b"":  # no request at all: waitress closes without answering
        assert data == b""
        return
    code, headers, body = parse_first_response(data)
    call = Call("RAW", request_bytes[:80].decode("latin-1"), "", None, {})
    check_answer(call, code, headers.get("content-type", ""), body)


def test_head_answers_have_no_body_so_the_next_answer_on_the_connection_parses(
    http_server: HTTPServer,
) -> None:
    """Found by the fuzzer: a HEAD answer carrying a body broke the next answer on the socket."""
    requests_bytes = (
        b"HEAD /v2/models/none/outputs HTTP/1.1\r\nHost: x\r\nAuthorization: Key k\r\n\r\n"
        b"GET /v2/inputs/none HTTP/1.1\r\nHost: x\r\nAuthorization: Key k\r\n"
        b"Connection: close\r\n\r\n"
    )
    data = raw_exchange(http_server.port, requests_bytes)
    head_answer, _, rest = data.partition(b"\r\n\r\n")
    assert head_answer.startswith(b"HTTP/1.1 405 ")
    announced = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in head_answer.split(b"\r\n")[1:])
    }
    assert int(announced[b"content-length"]) > 0  # what GET would send, announced only
    assert rest.startswith(b"HTTP/1.1 404 "), rest[:200]
    code, _, body = parse_first_response(rest)
    assert code == 404 and json.loads(body)["status"]["code"] == 30102  # input not found
