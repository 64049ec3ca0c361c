"""clarimap's pytest plugin: the local server and sessions on it, as fixtures.

pytest loads this module through the ``pytest11`` entry point whenever clarimap is installed.
Loading it imports only pytest and clarimap's core; the local server (``clarimap[server]``) is
imported when a test first asks for one of its fixtures, and without the extra those tests are
skipped with a message saying what to install.

Fixtures (each made afresh for every test, and closed after it):

- ``clarimap_server``: an in-memory local server (:class:`clarimap.server.ServerApp`) that
  processes new inputs before the create call answers;
- ``clarimap_session``: a :class:`clarimap.Session` on ``clarimap_server``, in process;
- ``clarimap_http_server``: ``clarimap_server`` served over HTTP on 127.0.0.1 and a free port
  (``.url``);
- ``clarimap_http_session``: a :class:`clarimap.Session` on ``clarimap_http_server``.

``@pytest.mark.clarimap_disable_plugins`` (or the ini option ``clarimap_disable_plugins =
true``) keeps clarimap's entry-point plugins (model zoos, media sources...) out of a test, as
``CLARIMAP_DISABLE_PLUGINS=1`` does; ``@pytest.mark.clarimap_disable_plugins("s3")`` leaves out
only the plugins named.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from clarimap.testing import SERVER_MISSING

if TYPE_CHECKING:
    from clarimap.server import ServerApp
    from clarimap.server.http import HTTPServer
    from clarimap.session import Session

DISABLE_PLUGINS_MARKER = "clarimap_disable_plugins"
DISABLE_PLUGINS_INI = "clarimap_disable_plugins"
HTTP_TEST_API_KEY = "clarimap-test-key"
"""The key ``clarimap_http_session`` sends (the local server accepts any key by default)."""

# Modules of the ``server`` extra: a test needing the server skips when one of them is missing.
_SERVER_REQUIREMENTS = frozenset({"PIL", "waitress", "numpy", "av"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_saved_switch = pytest.StashKey[tuple[str | None]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        DISABLE_PLUGINS_INI,
        help="clarimap: 'true' keeps every clarimap entry-point plugin out of the tests "
        "(CLARIMAP_DISABLE_PLUGINS=1); a comma-separated list of names keeps out only those",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DISABLE_PLUGINS_MARKER}(*names): run the test without clarimap's entry-point plugins "
        "(all of them, or only those named)",
    )


def _requested_switch(item: pytest.Item) -> str | None:
    """The ``CLARIMAP_DISABLE_PLUGINS`` value the test's marker or the ini option asks for."""
    marker = item.get_closest_marker(DISABLE_PLUGINS_MARKER)
    if marker is not None:
        names = [str(name) for name in marker.args]
        return ",".join(names) if names else "1"
    configured = str(item.config.getini(DISABLE_PLUGINS_INI)).strip()
    if configured.lower() in _FALSE_WORDS:
        return None
    return "1" if configured.lower() in ("1", "true", "yes", "on", "all") else configured


def _set_plugin_switch(value: str | None) -> str | None:
    """Set ``CLARIMAP_DISABLE_PLUGINS`` (unset for None), reload the plugins; the old value."""
    from clarimap import plugins

    previous = os.environ.get(plugins.DISABLE_ENV_VAR)
    if value is None:
        os.environ.pop(plugins.DISABLE_ENV_VAR, None)
    else:
        os.environ[plugins.DISABLE_ENV_VAR] = value
    plugins.reset_plugin_manager()
    return previous


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    switch = _requested_switch(item)
    if switch is not None:
        item.stash[_saved_switch] = (_set_plugin_switch(switch),)
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:  # after the test's fixtures are gone
        saved = item.stash.get(_saved_switch, None)
        if saved is not None:
            del item.stash[_saved_switch]
            _set_plugin_switch(saved[0])


def _skip_unless_installed(error: ModuleNotFoundError) -> None:
    """Skip the test when ``error`` says the ``server`` extra is missing; otherwise return."""
    missing = error.name or ""
    if missing.partition(".")[0] in _SERVER_REQUIREMENTS or missing.startswith("clarimap.server"):
        pytest.skip(f"{SERVER_MISSING} ({error})")


@pytest.fixture
def clarimap_server() -> Iterator[ServerApp]:
    """A fresh in-memory local server; new inputs are processed before the create call answers."""
    from clarimap.testing import local_server

    with contextlib.ExitStack() as resources:
        try:  # the server and its modules (Pillow, numpy...) are imported when it is made
            server = resources.enter_context(local_server())
        except ModuleNotFoundError as error:
            _skip_unless_installed(error)
            raise
        yield server


@pytest.fixture
def clarimap_session(clarimap_server: ServerApp) -> Iterator[Session]:
    """A :class:`clarimap.Session` on ``clarimap_server``, in process (no socket)."""
    import clarimap

    session = clarimap.connect("local://:memory:", local_app=clarimap_server)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def clarimap_http_server(clarimap_server: ServerApp) -> Iterator[HTTPServer]:
    """``clarimap_server`` over HTTP on 127.0.0.1 and a free port (``.url``); stopped after."""
    from clarimap.server.http import HTTPServer

    try:
        server = HTTPServer(clarimap_server, "127.0.0.1", 0)
    except ModuleNotFoundError as error:  # waitress, imported when a server is made
        _skip_unless_installed(error)
        raise
    with server:
        yield server


@pytest.fixture
def clarimap_http_session(clarimap_http_server: HTTPServer) -> Iterator[Session]:
    """A :class:`clarimap.Session` on ``clarimap_http_server``, over HTTP with a test key.

    Neither ``CLARIFAI_*`` environment variables nor ``~/.clarifai/config`` are read.
    """
    import clarimap

    session = clarimap.connect(
        clarimap_http_server.url, api_key=HTTP_TEST_API_KEY, environ={}, config_file=os.devnull
    )
    try:
        yield session
    finally:
        session.close()
