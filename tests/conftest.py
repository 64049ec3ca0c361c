"""Fixtures shared by the whole suite: the local server, in process and over HTTP on 127.0.0.1.

``api`` is parametrised: every test that uses it runs once against the in-process transport
(``local://``) and once over HTTP against a waitress server bound to a free loopback port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings

from clarimap.server import ServerApp, create_app
from clarimap.server.http import HTTPServer
from clarimap.transport.wsgi import local_session

settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _private_model_name_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the clarimap-diskcache plugin (when installed) out of the user's ~/.cache."""
    path = tmp_path_factory.mktemp("model-names") / "model-names.sqlite3"
    previous = os.environ.get("CLARIMAP_DISKCACHE_PATH")
    os.environ["CLARIMAP_DISKCACHE_PATH"] = str(path)
    yield
    if previous is None:
        os.environ.pop("CLARIMAP_DISKCACHE_PATH", None)
    else:
        os.environ["CLARIMAP_DISKCACHE_PATH"] = previous


SAMPLES = Path(__file__).parent.parent / "clarimap" / "demo_data"


class Api:
    """A tiny JSON client for tests: ``api.get("inputs")`` -> (http status, body)."""

    def __init__(
        self, base_url: str, session: requests.Session, server: ServerApp, key: str = "test-key"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.server = server
        self.key = key

    def url(self, path: str, query: str = "") -> str:
        url = f"{self.base_url}/v2/{path.lstrip('/')}"
        return f"{url}?{query}" if query else url

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        all_headers = {"Authorization": f"Key {self.key}", "Content-Type": "application/json"}
        all_headers.update(headers or {})
        if raw is not None:
            data = raw
        elif body is not None:
            import json

            data = json.dumps(body).encode()
        else:
            data = None
        response = self.session.request(
            method, self.url(path, query), data=data, headers=all_headers, timeout=60
        )
        assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
        return response.status_code, response.json()

    def get(self, path: str, query: str = "", **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.call("GET", path, query=query, **kw)

    def fetch_media(self, media: dict[str, Any]) -> bytes:
        """The bytes of a stored input's ``image`` or ``video`` object, from its hosted URL."""
        url = media["url"]
        assert url.startswith(f"{self.base_url}/v2/hosted/orig/"), url
        assert media["hosted"]["prefix"] + "/orig/" + media["hosted"]["suffix"] == url
        assert "base64" not in media  # the bytes are not repeated in every answer
        response = self.session.get(url, timeout=60)  # no key: the token is the secret
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Content-Type"].startswith(("image/", "video/")), response.headers
        return response.content

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.call("POST", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.call("PATCH", path, body if body is not None else {}, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.call("DELETE", path, body if body is not None else {}, **kw)


@pytest.fixture
def server_app() -> Iterator[ServerApp]:
    """A fresh in-memory local server; inputs are processed before the create call answers."""
    app = create_app(":memory:", background=False)
    yield app
    app.close()


@pytest.fixture
def http_server(server_app: ServerApp) -> Iterator[HTTPServer]:
    """``server_app`` served over HTTP on 127.0.0.1, on a free port; stopped after the test."""
    with HTTPServer(server_app, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture(params=["inprocess", "http"])
def api(request: pytest.FixtureRequest, server_app: ServerApp) -> Iterator[Api]:
    """A JSON client for the local server, once in process and once over HTTP."""
    if request.param == "inprocess":
        session = local_session("local://:memory:", app=server_app)
        yield Api("local://:memory:", session, server_app)
        session.close()
    else:
        with HTTPServer(server_app, "127.0.0.1", 0) as server:
            session = requests.Session()
            yield Api(server.url, session, server_app)
            session.close()
