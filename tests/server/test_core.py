"""The server's core: envelope, routing, auth, request validation, pagination and the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from clarimap.server import create_app, schema, status
from clarimap.server.errors import ApiError
from clarimap.server.http import HTTPServer
from clarimap.server.routing import parse_pagination
from clarimap.server.store import SCHEMA_VERSION, Store, canonical_json, metadata_leaves
from tests.conftest import Api


def test_unknown_route_is_a_json_404(api: Api) -> None:
    code, body = api.get("no/such/route")
    assert code == 404
    assert body["status"]["code"] == status.CONN_DOES_NOT_EXIST
    assert "no/such/route" in body["status"]["details"]


def test_wrong_method_is_405_with_the_method_named(api: Api) -> None:
    code, body = api.call("PUT", "inputs", {})
    assert code == 405
    assert body["status"]["code"] == status.CONN_METHOD_NOT_ALLOWED
    assert "PUT" in body["status"]["details"]


def test_malformed_json_is_a_400_saying_so(api: Api) -> None:
    code, body = api.call("POST", "concepts", raw=b'{"concepts": [')
    assert code == 400
    assert body["status"]["code"] == status.CONN_BAD_REQUEST_FORMAT
    assert "not valid JSON" in body["status"]["details"]


def test_a_body_that_is_not_an_object_is_refused(api: Api) -> None:
    code, body = api.call("POST", "concepts", raw=b"[1, 2]")
    assert code == 400
    assert "JSON object" in body["status"]["details"]


def test_both_route_forms_reach_the_same_app(api: Api) -> None:
    short = api.get("inputs", "per_page=5")
    long = api.get("users/local/apps/default/inputs", "per_page=5")
    me = api.get("users/me/apps/default/inputs", "per_page=5")
    assert short == long == me
    assert short[0] == 200


def test_path_segments_are_decoded_after_splitting(api: Api) -> None:
    code, body = api.get("inputs/a%2Fb")
    assert code == 404
    assert "a/b" in body["status"]["details"]


@pytest.fixture
def keyed_server() -> Iterator[HTTPServer]:
    app = create_app(":memory:", api_keys=["right-key"], background=False)
    with HTTPServer(app) as server:
        yield server
    app.close()


@pytest.mark.parametrize("header", [None, "Key wrong-key", "Bearer nope", "right-key"])
def test_configured_keys_refuse_every_other_key(
    keyed_server: HTTPServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{keyed_server.url}/v2/inputs", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["status"]["code"] == status.CONN_KEY_NOT_FOUND
    assert response.json()["status"]["description"] == "API key not found"


def test_a_configured_key_is_accepted(keyed_server: HTTPServer) -> None:
    response = requests.get(
        f"{keyed_server.url}/v2/inputs", headers={"Authorization": "Key right-key"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["status"]["code"] == status.SUCCESS


def test_a_key_cannot_reach_another_app(keyed_server: HTTPServer) -> None:
    response = requests.get(
        f"{keyed_server.url}/v2/users/someone/apps/else/inputs",
        headers={"Authorization": "Key right-key"},
        timeout=10,
    )
    assert response.status_code == 403
    assert response.json()["status"]["code"] == status.CONN_INSUFFICIENT_SCOPES


def test_user_app_id_in_the_query_must_agree_with_the_route(api: Api) -> None:
    assert api.get("inputs", "user_app_id.user_id=me&user_app_id.app_id=default")[0] == 200
    code, body = api.get("inputs", "user_app_id.app_id=other")
    assert code == 400
    assert "other" in body["status"]["details"]


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "more than 100 levels deep"),
        (b'{"a":' * 101 + b"1" + b"}" * 101, "more than 100 levels deep"),
        (b'{"concepts": [{"id": "\\ud800"}]}', "not valid Unicode"),
        (b'{"\\udfff": 1}', "not valid Unicode"),
        (b'{"concepts": [{"id": "c", "value": NaN}]}', "NaN is not a JSON value"),
        (b'{"concepts": [{"id": "c", "value": -Infinity}]}', "-Infinity is not a JSON value"),
        (b'{"concepts": [{"id": "c", "value": 1e999}]}', "too large for a 64-bit float"),
    ],
)
def test_bodies_json_loads_takes_but_json_does_not_are_400s(
    api: Api, raw: bytes, phrase: str
) -> None:
    """Found by tests/server/test_fuzz.py: these were 500s (RecursionError, UnicodeEncodeError)
    or stored NaN/Infinity that were then sent back as non-JSON."""
    code, body = api.call("POST", "concepts", raw=raw)
    assert code == 400, body
    assert body["status"]["code"] == status.CONN_BAD_REQUEST_FORMAT
    assert phrase in body["status"]["details"]


def test_nesting_up_to_the_limit_is_accepted(api: Api) -> None:
    deep: object = 1
    for _ in range(97):  # + metadata, concepts[], the concept: 100 levels
        deep = {"k": deep}
    code, body = api.post("concepts", {"concepts": [{"id": "c", "metadata": deep}]})
    assert code == 200, body


@pytest.mark.parametrize(
    ("raw_request", "phrase"),
    [
        (
            b"POST /v2/concepts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
            "Content-Length",
        ),
        (
            b"POST /v2/concepts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            b"0\r\n\r\n",
            "Transfer-Encoding",
        ),
        (b"GET /v2/in\xffputs HTTP/1.1\r\nHost: x\r\n\r\n", "Bad URI"),
    ],
)
def test_requests_waitress_refuses_get_the_status_envelope(
    http_server: HTTPServer, raw_request: bytes, phrase: str
) -> None:
    """Found by the fuzzer's raw socket requests: waitress answered these in plain text (a 501
    for the transfer coding); now JSON, 11100, HTTP 400."""
    import json
    import socket

    with socket.create_connection(("127.0.0.1", http_server.port), timeout=10) as connection:
        connection.sendall(raw_request)
        connection.shutdown(socket.SHUT_WR)
        data = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", data
    assert b"content-type: application/json" in head.lower()
    envelope = json.loads(payload)["status"]
    assert envelope["code"] == status.CONN_BAD_REQUEST_FORMAT
    assert phrase in envelope["details"]


# -- request validation --------------------------------------------------------------------


def test_unknown_fields_are_named_with_their_path() -> None:
    with pytest.raises(ApiError) as caught:
        schema.validate(
            {"inputs": [{"data": {"imgae": {}}}]},
            schema.request(inputs=schema.ListOf(schema.INPUT)),
        )
    assert "inputs[0].data.imgae: unknown field" in caught.value.details


def test_wrong_types_say_what_was_expected() -> None:
    with pytest.raises(ApiError) as caught:
        schema.validate(
            {"concepts": [{"id": "a", "value": "high"}]},
            schema.Obj(concepts=schema.ListOf(schema.CONCEPT)),
        )
    assert caught.value.details.startswith("concepts[0].value: expected a number, got string")
    with pytest.raises(ApiError):
        schema.validate({"value": True}, schema.Obj(value=schema.NUM))


def test_camel_case_names_are_accepted_as_proto_json_allows() -> None:
    result = schema.validate({"allowDuplicateUrl": True, "url": "x"}, schema.IMAGE)
    assert result == {"allow_duplicate_url": True, "url": "x"}


def test_null_is_no_element_of_a_repeated_field() -> None:
    """Found by the fuzzer: null items in a list of objects reached handlers (500s)."""
    with pytest.raises(ApiError) as caught:
        schema.validate(
            {"concepts": [{"id": "a"}, None]}, schema.Obj(concepts=schema.ListOf(schema.CONCEPT))
        )
    assert caught.value.details == "concepts[1]: expected an object, got null None"
    # A list of arbitrary JSON values (a ListValue) may hold null.
    assert schema.validate([None, 1], schema.ListOf(schema.ANY)) == [None, 1]


def test_list_limits_are_enforced() -> None:
    with pytest.raises(ApiError) as caught:
        schema.validate(list(range(3)), schema.ListOf(schema.NUM, max_items=2))
    assert "at most 2 items" in caught.value.details


@pytest.mark.parametrize(
    ("page", "per_page", "expected"),
    [(None, None, (1, 128)), ("2", "10", (2, 10)), ("0", "0", (1, 128)), (3, 1000, (3, 1000))],
)
def test_pagination_defaults_and_values(
    page: object, per_page: object, expected: tuple[int, int]
) -> None:
    assert parse_pagination(page, per_page) == expected


@pytest.mark.parametrize(
    ("page", "per_page"), [("x", None), (None, "1001"), ("-1", None), (None, "-5")]
)
def test_bad_pagination_is_an_error(page: object, per_page: object) -> None:
    with pytest.raises(ApiError) as caught:
        parse_pagination(page, per_page)
    assert caught.value.http_status == 400


# -- store ---------------------------------------------------------------------------------


def test_a_file_store_is_migrated_once_and_reopened_intact(tmp_path: Path) -> None:
    path = tmp_path / "data" / "clarimap.sqlite3"
    store = Store.open(path)
    pk = store.app_pk("local", "default")
    store.close()
    reopened = Store.open(path)
    with reopened.read() as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reopened.app_pk("local", "default") == pk
    reopened.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(RuntimeError, match="newer than this clarimap"):
        Store.open(path)


def test_a_failed_transaction_leaves_nothing_behind() -> None:
    store = Store.open()
    with pytest.raises(ZeroDivisionError), store.transaction() as connection:
        connection.execute(
            "INSERT INTO apps (user_id, app_id, created_at) VALUES ('u', 'a', 'now')"
        )
        1 / 0  # noqa: B018
    with store.read() as connection:
        assert (
            connection.execute("SELECT COUNT(*) FROM apps WHERE user_id = 'u'").fetchone()[0] == 0
        )
    store.close()


def test_metadata_leaves_use_canonical_numbers() -> None:
    leaves = dict(metadata_leaves({"a": {"b": 1, "c": [1, True]}, "d": {}, "e": "x"}))
    assert leaves == {
        '["a", "b"]': "1.0",
        '["a", "c"]': "[1.0,true]",
        '["d"]': "{}",
        '["e"]': '"x"',
    }
    assert canonical_json({"b": 2, "a": False}) == '{"a":false,"b":2.0}'


def test_bad_percent_encoding_is_a_400(api: Api) -> None:
    code, body = api.get("models/%FF")
    assert code == 400
    assert "percent-encoded" in body["status"]["details"]


def test_a_huge_page_number_is_an_empty_page(api: Api) -> None:
    code, body = api.get("inputs", f"page={10**30}&per_page=1000")
    assert code == 200
    assert body["inputs"] == []


def test_listing_inputs_uses_the_app_seq_index() -> None:
    store = Store.open()
    with store.read() as connection:
        plan = " ".join(
            str(tuple(row))
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT seq FROM inputs WHERE app = 1 ORDER BY seq LIMIT 10"
            )
        )
    store.close()
    assert "inputs_by_app_seq" in plan
    assert "TEMP B-TREE" not in plan


def test_the_access_log_has_a_line_per_request() -> None:
    import io

    log = io.StringIO()
    app = create_app(":memory:", background=False)
    with HTTPServer(app, access_log=log) as server:
        requests.get(f"{server.url}/v2/inputs?per_page=3", timeout=10)
        requests.get(f"{server.url}/v2/inputs/missing", timeout=10)
        requests.post(f"{server.url}/v2/concepts", data=b"{", timeout=10)
    app.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith('127.0.0.1 "GET /v2/inputs" 200 10000 ')
    assert "per_page" not in lines[0]  # query strings are left out
    assert lines[1].startswith('127.0.0.1 "GET /v2/inputs/missing" 404 30102 ')
    assert lines[2].startswith('127.0.0.1 "POST /v2/concepts" 400 11100 ')
    assert all(line.endswith("ms") for line in lines)


def test_serve_writes_the_access_log_to_stderr() -> None:
    from tests.serve_process import ServeProcess

    with ServeProcess(extra_args=["--access-log"]) as served:
        assert requests.get(f"{served.url}/v2/models?per_page=1", timeout=10).status_code == 200
        assert served.stop() == 0
        assert '"GET /v2/models" 200 10000 ' in served.stderr()
