"""clarimap's pytest plugin, used the way an application's test suite uses it (through pytester).

Each test writes a small user test file into a fresh directory, runs pytest on it in a process
of its own (the plugin comes from the installed ``pytest11`` entry point, as it does for users;
a separate process keeps this suite's imported modules untouched) and checks the outcome counts
and what the user's assertions reported.
"""

from __future__ import annotations

import textwrap

import pytest

from clarimap.plugins import DISABLE_ENV_VAR
from clarimap.testing import SERVER_MISSING

pytest_plugins = ["pytester"]

USER_TESTS = """
import os

import pytest

from clarimap import Input
from clarimap.testing import add_sample_photos


def ids(found):
    return sorted(photo.id for photo in found)


def test_add_commit_query_edit(clarimap_session):
    added = add_sample_photos(clarimap_session, ["cat", "coffee", "horse"])
    assert [photo.id for photo in added] == ["cat", "coffee", "horse"]
    assert ids(clarimap_session.query(Input).where(concept="animal")) == ["cat", "horse"]

    cat = clarimap_session.get(Input, "cat")
    cat.metadata["owner"] = "ana"
    clarimap_session.delete(clarimap_session.get(Input, "coffee"))
    clarimap_session.commit()

    assert ids(clarimap_session.query(Input).where(metadata={"owner": "ana"})) == ["cat"]
    assert ids(clarimap_session.query(Input).where(metadata={"file": "coffee.jpg"})) == []


def test_every_test_gets_a_fresh_server(clarimap_session):
    assert ids(clarimap_session.query(Input).where(concept="animal")) == []


def test_over_http(clarimap_http_server, clarimap_http_session):
    assert clarimap_http_server.url.startswith("http://127.0.0.1:")
    add_sample_photos(clarimap_http_session, ["rocket", "astronaut", "clock"])
    assert ids(clarimap_http_session.query(Input).where(concept="space")) == [
        "astronaut", "rocket"
    ]
    rocket = clarimap_http_session.get(Input, "rocket")
    rocket.concepts.append("launch")
    clarimap_http_session.commit()
    assert ids(clarimap_http_session.query(Input).where(concept="launch")) == ["rocket"]


def test_the_server_and_the_session_see_the_same_inputs(clarimap_server, clarimap_session):
    add_sample_photos(clarimap_session, ["galaxies"])
    galaxies = clarimap_session.get(Input, "galaxies")
    assert galaxies.status is not None and galaxies.status.code == 30000  # processed


def test_a_wrong_expectation_fails(clarimap_session):
    add_sample_photos(clarimap_session, ["clock"])
    assert clarimap_session.get(Input, "clock").metadata == {"file": "not-the-clock.jpg"}


def test_only_builtin_plugins(clarimap_session):
    from clarimap import plugins

    assert os.environ["CLARIMAP_DISABLE_PLUGINS"] == "1"
    infos = plugins.get_plugin_manager().plugin_infos()
    assert {info.origin for info in infos} == {"builtin"}
"""

MARKER_TESTS = """
import os

import pytest

from clarimap import plugins


def loaded_names():
    return {info.name for info in plugins.get_plugin_manager().plugin_infos()}


@pytest.mark.clarimap_disable_plugins
def test_marked(clarimap_server):
    assert os.environ["CLARIMAP_DISABLE_PLUGINS"] == "1"
    origins = {info.origin for info in plugins.get_plugin_manager().plugin_infos()}
    assert origins == {"builtin"}


def test_unmarked_after_a_marked_test():
    assert "CLARIMAP_DISABLE_PLUGINS" not in os.environ


@pytest.mark.clarimap_disable_plugins("s3", "diskcache")
def test_marked_with_names():
    assert os.environ["CLARIMAP_DISABLE_PLUGINS"] == "s3,diskcache"
    assert not {"s3", "diskcache"} & loaded_names()
"""


@pytest.fixture(autouse=True)
def _plugins_switch_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user tests check the switch; start without it, whatever this process was given."""
    monkeypatch.delenv(DISABLE_ENV_VAR, raising=False)


def test_user_suite_on_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nclarimap_disable_plugins = true\n")
    pytester.makepyfile(test_photos=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_a_wrong_expectation_fails*", "*not-the-clock.jpg*"])
    result.stdout.re_match_lines([r".*'file': 'clock\.jpg'.*"])


def test_marker_turns_plugins_off_for_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marker=MARKER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3)


def test_ini_option_false_keeps_plugins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nclarimap_disable_plugins = false\n")
    pytester.makepyfile(
        test_switch="""
        import os

        def test_switch_untouched():
            assert "CLARIMAP_DISABLE_PLUGINS" not in os.environ
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


BLOCK_SERVER_CONFTEST = '''
import importlib.abc
import sys

SERVER_IMPORTED_BEFORE_CONFTEST = "clarimap.server" in sys.modules


class BlockServer(importlib.abc.MetaPathFinder):
    """Makes BLOCKED unimportable, as it is without the server extra."""

    def find_spec(self, name, path=None, target=None):
        if name == BLOCKED or name.startswith(BLOCKED + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, BlockServer())
'''


@pytest.mark.parametrize("blocked", ["clarimap.server", "numpy"])
def test_without_the_server_extra_the_fixtures_skip(
    pytester: pytest.Pytester, blocked: str
) -> None:
    pytester.makeconftest(f"BLOCKED = {blocked!r}\n" + BLOCK_SERVER_CONFTEST)
    pytester.makepyfile(
        test_app=textwrap.dedent(
            """
            import conftest

            def test_plugin_loaded_without_the_server():
                assert not conftest.SERVER_IMPORTED_BEFORE_CONFTEST

            def test_in_process(clarimap_session):
                raise AssertionError("unreachable: the fixture skips")

            def test_over_http(clarimap_http_session):
                raise AssertionError("unreachable: the fixture skips")
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    skip_lines = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skip_lines) == 2
    for line in skip_lines:
        assert SERVER_MISSING in line and "pip install 'clarimap[server]'" in line, line
