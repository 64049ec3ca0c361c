"""The plugin manager: built-ins first, entry points (from fake distributions), faults named."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest
import requests

from clarimap import plugins
from clarimap.errors import InvalidMediaError, PluginError
from clarimap.hookspecs import HOOK_NAMES, hookimpl
from clarimap.media import ResolvedMedia, resolve_media
from tests.plugins.conftest import FakeDistribution

FAKE_SOURCE = """
from clarimap.hookspecs import hookimpl
from clarimap.media import ResolvedMedia

@hookimpl
def clarimap_resolve_media(source):
    if isinstance(source, str) and source.startswith("fake://"):
        return ResolvedMedia(url="https://fake.example/" + source[7:])
    if source == "claim-bytes":
        return ResolvedMedia(base64=b"from the plugin")
    return None
"""


def test_builtins_are_registered_first_with_clarimaps_version(
    builtins_only: plugins.ClarimapPluginManager,
) -> None:
    from clarimap import __version__

    infos = builtins_only.plugin_infos()
    assert [info.name for info in infos][:3] == ["media-path", "media-url", "media-bytes"]
    assert {info.origin for info in infos} == {"builtin"}
    assert {info.version for info in infos} == {__version__}
    implemented = {hook for info in infos for hook in info.hooks}
    assert implemented == set(HOOK_NAMES) - {"clarimap_register_models"}


def test_entry_point_plugin_is_discovered_with_its_distribution(
    fake_distribution: FakeDistribution,
) -> None:
    fake_distribution("acme-media", "1.2.3", {"acme": "acme_media"}, {"acme_media": FAKE_SOURCE})
    manager = plugins.get_plugin_manager()
    info = next(info for info in manager.plugin_infos() if info.name == "acme")
    assert (info.origin, info.distribution, info.version) == ("entry point", "acme-media", "1.2.3")
    assert info.hooks == ("clarimap_resolve_media",)
    assert resolve_media("fake://cat.jpg") == ResolvedMedia(url="https://fake.example/cat.jpg")


def test_entry_point_plugins_are_asked_before_builtins(fake_distribution: FakeDistribution) -> None:
    fake_distribution("acme-media", "1.0", {"acme": "acme_media"}, {"acme_media": FAKE_SOURCE})
    order = plugins.get_plugin_manager().implementers("clarimap_resolve_media")
    assert order.index("acme") < order.index("media-path")
    # "claim-bytes" would be a missing path for the built-in path source
    assert resolve_media("claim-bytes").base64 == b"from the plugin"


def test_environment_variable_disables_entry_points(
    fake_distribution: FakeDistribution, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution("acme-media", "1.0", {"acme": "acme_media"}, {"acme_media": FAKE_SOURCE})
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "1")
    assert plugins.make_plugin_manager().get_plugin("acme") is None
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "other,acme")
    assert plugins.make_plugin_manager().get_plugin("acme") is None
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "other")
    assert plugins.make_plugin_manager().get_plugin("acme") is not None
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "0")
    assert plugins.make_plugin_manager().get_plugin("acme") is not None


def test_implementation_of_unknown_hook_fails_check_pending(
    fake_distribution: FakeDistribution,
) -> None:
    source = (
        "from clarimap.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef clarimap_no_such_hook():\n    pass\n"
    )
    fake_distribution("typo-plugin", "0.1", {"typo": "typo_plugin"}, {"typo_plugin": source})
    with pytest.raises(PluginError, match=r"(?s)'typo'.*clarimap_no_such_hook") as caught:
        plugins.make_plugin_manager()
    assert caught.value.plugin == "typo"


def test_implementation_with_unknown_argument_is_refused(
    fake_distribution: FakeDistribution,
) -> None:
    source = (
        "from clarimap.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef clarimap_resolve_media(source, colour):\n    return None\n"
    )
    fake_distribution("bad-args", "0.1", {"badargs": "bad_args"}, {"bad_args": source})
    with pytest.raises(PluginError, match=r"(?s)'badargs'.*colour"):
        plugins.make_plugin_manager()


def test_plugin_that_fails_to_import_is_named(fake_distribution: FakeDistribution) -> None:
    fake_distribution(
        "broken", "2.0", {"broken": "broken_mod"}, {"broken_mod": "import no_such_module_x\n"}
    )
    with pytest.raises(
        PluginError, match=r"'broken' \(broken 2.0\) failed to load.*no_such_module_x"
    ):
        plugins.make_plugin_manager()


def test_two_distributions_with_one_plugin_name(fake_distribution: FakeDistribution) -> None:
    fake_distribution("first-dist", "1.0", {"same": "mod_one"}, {"mod_one": FAKE_SOURCE})
    fake_distribution("second-dist", "1.0", {"same": "mod_two"}, {"mod_two": FAKE_SOURCE})
    with pytest.raises(PluginError, match="two plugins are named 'same'"):
        plugins.make_plugin_manager()


class Raising:
    @hookimpl
    def clarimap_resolve_media(self, source: object) -> ResolvedMedia | None:
        raise RuntimeError("boom")


class WrongType:
    @hookimpl
    def clarimap_resolve_media(self, source: object) -> object:
        return {"url": "https://example.com/x.jpg"}


class RaisesMediaError:
    @hookimpl
    def clarimap_resolve_media(self, source: object) -> ResolvedMedia | None:
        raise InvalidMediaError("this source is broken in a way the user can fix")


def test_plugin_that_raises_is_named_with_the_hook(builtins_only: object) -> None:
    with plugins.registered(Raising(), "raiser"), pytest.raises(PluginError) as caught:
        resolve_media(b"abc")
    assert "'raiser'" in str(caught.value) and "clarimap_resolve_media" in str(caught.value)
    assert (caught.value.plugin, caught.value.hook) == ("raiser", "clarimap_resolve_media")
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_plugin_that_returns_the_wrong_type_is_named(builtins_only: object) -> None:
    with plugins.registered(WrongType(), "wrong-type"), pytest.raises(PluginError) as caught:
        resolve_media(b"abc")
    message = str(caught.value)
    assert "'wrong-type'" in message and "dict" in message and "ResolvedMedia" in message
    assert caught.value.hook == "clarimap_resolve_media"


def test_typed_media_errors_from_plugins_reach_the_caller(builtins_only: object) -> None:
    with plugins.registered(RaisesMediaError(), "strict"), pytest.raises(InvalidMediaError):
        resolve_media(b"abc")


def test_registered_plugin_is_removed_after_the_block(builtins_only: object) -> None:
    with plugins.registered(WrongType(), "temporary"):
        assert "temporary" in plugins.get_plugin_manager().implementers("clarimap_resolve_media")
    assert "temporary" not in plugins.get_plugin_manager().implementers("clarimap_resolve_media")
    assert resolve_media(b"abc").base64 == b"abc"


class WrapperThatRaises:
    @hookimpl(wrapper=True)
    def clarimap_resolve_media(self, source: object) -> object:
        result = yield
        if source == b"poison":
            raise KeyError("poisoned")
        return result


def test_wrapper_faults_are_attributed_too(builtins_only: object) -> None:
    with plugins.registered(WrapperThatRaises(), "wrapping"):
        assert resolve_media(b"fine").base64 == b"fine"
        with pytest.raises(PluginError, match="'wrapping' raised KeyError"):
            resolve_media(b"poison")


# -- the model cache hook -----------------------------------------------------------------------


def test_builtin_model_cache_is_an_empty_ttl_cache_per_scope(builtins_only: object) -> None:
    first = plugins.model_cache("https://api.example/v2/users/u/apps/a")
    assert len(first) == 0  # filled lazily by the session, never up front
    first["general"] = "aaa03c23b3724a16a56b629203edc62c"
    assert plugins.model_cache("https://api.example/v2/users/u/apps/a")["general"] == (
        "aaa03c23b3724a16a56b629203edc62c"
    )
    other = plugins.model_cache("https://api.example/v2/users/u/apps/b")
    assert "general" not in other
    del first["general"]
    assert "general" not in plugins.model_cache("https://api.example/v2/users/u/apps/a")


def test_builtin_model_cache_entries_expire() -> None:
    from clarimap._builtin_plugins.model_cache import LockedTTLCache

    clock = [1000.0]
    cache = LockedTTLCache(maxsize=10, ttl=60, timer=lambda: clock[0])
    cache["general"] = "id1"
    clock[0] += 59
    assert cache["general"] == "id1"
    clock[0] += 2
    assert "general" not in cache and len(cache) == 0


class DictCache:
    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}

    @hookimpl
    def clarimap_model_cache(self, scope: str) -> MutableMapping[str, str]:
        return self.mapping


class NotAMapping:
    @hookimpl
    def clarimap_model_cache(self) -> object:
        return ["general"]


def test_a_plugin_replaces_the_model_cache(builtins_only: object) -> None:
    replacement = DictCache()
    with plugins.registered(replacement, "dict-cache"):
        assert plugins.model_cache("scope") is replacement.mapping


def test_model_cache_of_the_wrong_type_names_the_plugin(builtins_only: object) -> None:
    with (
        plugins.registered(NotAMapping(), "list-cache"),
        pytest.raises(PluginError, match="'list-cache' returned list from clarimap_model_cache"),
    ):
        plugins.model_cache("scope")


# -- the transport hook -------------------------------------------------------------------------


def test_local_scheme_gets_the_wsgi_adapter(builtins_only: object) -> None:
    from clarimap.transport.wsgi import WSGIAdapter

    assert isinstance(plugins.transport_adapter("local://:memory:"), WSGIAdapter)
    assert plugins.transport_adapter("https://api.clarifai.com") is None
    assert plugins.transport_adapter("http://127.0.0.1:8080") is None


def test_unknown_scheme_names_the_transport_plugins(builtins_only: object) -> None:
    with pytest.raises(PluginError, match=r"no transport for URL 'gopher://x'.*transport-local"):
        plugins.transport_adapter("gopher://x")


class EchoAdapter(requests.adapters.BaseAdapter):
    def send(
        self, request: requests.PreparedRequest, *args: object, **kwargs: object
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = (request.url or "").encode()
        return response

    def close(self) -> None:
        pass


class EchoTransport:
    @hookimpl
    def clarimap_transport_adapter(self, url: str) -> requests.adapters.BaseAdapter | None:
        return EchoAdapter() if url.startswith("echo://") else None


def test_a_plugin_adds_a_url_scheme(builtins_only: object) -> None:
    with plugins.registered(EchoTransport(), "echo"):
        adapter = plugins.transport_adapter("echo://anything")
        assert isinstance(adapter, EchoAdapter)
        session = requests.Session()
        session.mount("echo://", adapter)
        assert session.get("echo://anything/v2/inputs").text == "echo://anything/v2/inputs"


# -- the server's model hook --------------------------------------------------------------------


class ModelsA:
    @hookimpl
    def clarimap_register_models(self, register: plugins.ModelRegister) -> None:
        register("colour-a", "model A")
        register("shared", "model A2")


class ModelsB:
    @hookimpl
    def clarimap_register_models(self, register: plugins.ModelRegister) -> None:
        register("colour-b", "model B")


class ModelsClash:
    @hookimpl
    def clarimap_register_models(self, register: plugins.ModelRegister) -> None:
        register("shared", "another")


def test_register_models_collects_every_plugins_models(builtins_only: object) -> None:
    collected: dict[str, object] = {}
    with plugins.registered(ModelsA(), "models-a"), plugins.registered(ModelsB(), "models-b"):
        plugins.register_models(collected.__setitem__)
    assert collected == {"colour-a": "model A", "shared": "model A2", "colour-b": "model B"}


def test_a_model_id_registered_twice_names_both_plugins(builtins_only: object) -> None:
    with plugins.registered(ModelsA(), "models-a"), plugins.registered(ModelsClash(), "clash"):
        with pytest.raises(PluginError, match="'shared' is registered by both"):
            plugins.register_models(lambda model_id, model: None)
