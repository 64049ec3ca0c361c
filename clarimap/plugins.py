"""The plugin manager: clarimap's built-in plugins first, then the ``clarimap`` entry points.

Built-in behaviour registers through the same hooks as third-party plugins (see
:mod:`clarimap._builtin_plugins`). Entry-point plugins come from every installed distribution
that declares ``[project.entry-points.clarimap]``; setting ``CLARIMAP_DISABLE_PLUGINS=1``
skips them all (``CLARIMAP_DISABLE_PLUGINS=name1,name2`` skips those entry-point names).
After loading, the manager calls ``check_pending()``, so an implementation of a hook that does
not exist is an error at start, not a silent no-op.

Hooks are called through :meth:`ClarimapPluginManager.call_first` (which checks the answer's
type) and :meth:`ClarimapPluginManager.call_each`; both turn a plugin's unexpected exception
into a :class:`PluginError` naming the plugin and the hook.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from clarimap import hookspecs
from clarimap.errors import ClarimapError, PluginError

__all__ = [
    "DISABLE_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "ClarimapPluginManager",
    "ModelRegister",
    "PluginError",
    "PluginInfo",
    "get_plugin_manager",
    "make_plugin_manager",
    "model_cache",
    "register_models",
    "registered",
    "reset_plugin_manager",
    "transport_adapter",
]

if TYPE_CHECKING:
    from requests.adapters import BaseAdapter

ENTRY_POINT_GROUP = "clarimap"
DISABLE_ENV_VAR = "CLARIMAP_DISABLE_PLUGINS"


@attrs.frozen
class PluginInfo:
    """One loaded plugin, as ``clarimap plugins`` lists it."""

    name: str
    origin: str  # "builtin", "entry point" or "registered"
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def _is_intended_error(error: BaseException) -> bool:
    """True for the typed errors a hook implementation raises on purpose (a missing file...)."""
    return isinstance(error, ClarimapError)


class ClarimapPluginManager(pluggy.PluginManager):
    """A ``pluggy.PluginManager`` for clarimap's hooks that knows where each plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self._origins: dict[str, tuple[str, str | None, str | None]] = {}

    def register_plugin(
        self,
        plugin: object,
        name: str,
        *,
        origin: str = "registered",
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register ``plugin`` as ``name``; one pluggy rejects raises :class:`PluginError`."""
        try:
            self.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise PluginError(f"plugin {name!r} is invalid: {error}", plugin=name) from error
        except ValueError as error:  # pluggy: name or object already registered
            raise PluginError(f"cannot register plugin {name!r}: {error}", plugin=name) from error
        self._origins[name] = (origin, distribution, version)

    def unregister_plugin(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        self.unregister(name=name)
        self._origins.pop(name, None)

    def implementers(self, hook_name: str) -> list[str]:
        """Names of the plugins implementing ``hook_name``, in the order they are called."""
        caller = getattr(self.hook, hook_name)
        return [impl.plugin_name for impl in reversed(caller.get_hookimpls())]

    def call_first(self, hook_name: str, expected: type[Any], **kwargs: Any) -> Any:
        """Call a ``firstresult`` hook: the first answer not ``None``, of type ``expected``."""
        for name, result in self._results(hook_name, kwargs, stop_at_first=True):
            return self._checked(name, hook_name, result, expected)
        return None

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook on every plugin: ``(plugin name, answer)`` for each answer not ``None``."""
        return list(self._results(hook_name, kwargs, stop_at_first=False))

    def _results(
        self, hook_name: str, kwargs: dict[str, Any], *, stop_at_first: bool
    ) -> Iterator[tuple[str, Any]]:
        caller = getattr(self.hook, hook_name)
        impls = list(reversed(caller.get_hookimpls()))
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            # Wrappers need pluggy's own call loop; errors are then attributed by traceback.
            yield from self._results_through_pluggy(hook_name, kwargs, impls)
            return
        for impl in impls:
            result = self.call_impl(impl, hook_name, **kwargs)
            if result is not None:
                yield impl.plugin_name, result
                if stop_at_first:
                    return

    @staticmethod
    def call_impl(impl: Any, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook_name``; its failure names the plugin."""
        arguments = {name: kwargs[name] for name in impl.argnames}
        try:
            return impl.function(**arguments)
        except Exception as error:
            if _is_intended_error(error):
                raise
            raise PluginError(
                f"plugin {impl.plugin_name!r} raised {type(error).__name__} in "
                f"{hook_name}: {error}",
                plugin=impl.plugin_name,
                hook=hook_name,
            ) from error

    def _results_through_pluggy(
        self, hook_name: str, kwargs: dict[str, Any], impls: list[Any]
    ) -> Iterator[tuple[str, Any]]:
        caller = getattr(self.hook, hook_name)
        try:
            answer = caller(**kwargs)
        except Exception as error:
            if _is_intended_error(error):
                raise
            culprit = _plugin_in_traceback(error, impls)
            raise PluginError(
                f"plugin {culprit!r} raised {type(error).__name__} in {hook_name}: {error}",
                plugin=culprit,
                hook=hook_name,
            ) from error
        names = "one of " + ", ".join(repr(impl.plugin_name) for impl in impls)
        results = [answer] if caller.spec.opts.get("firstresult") else list(answer)
        for result in results:
            if result is not None:
                yield names, result

    @staticmethod
    def _checked(plugin: str, hook_name: str, result: Any, expected: type[Any]) -> Any:
        if not isinstance(result, expected):
            raise PluginError(
                f"plugin {plugin!r} returned {type(result).__name__} from {hook_name}; "
                f"expected {expected.__name__} or None",
                plugin=plugin,
                hook=hook_name,
            )
        return result

    def plugin_infos(self) -> list[PluginInfo]:
        """Every registered plugin, built-ins first, with its distribution, version and hooks."""
        infos = []
        for name, plugin in self.list_name_plugin():
            origin, distribution, version = self._origins.get(name, ("registered", None, None))
            hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, origin, distribution, version, hooks))
        return infos


def _plugin_in_traceback(error: BaseException, impls: list[Any]) -> str:
    codes = {
        impl.function.__code__: impl.plugin_name
        for impl in impls
        if hasattr(impl.function, "__code__")
    }
    traceback = error.__traceback__
    culprit = "unknown"
    while traceback is not None:
        culprit = codes.get(traceback.tb_frame.f_code, culprit)
        traceback = traceback.tb_next
    return culprit


def disabled_entry_points() -> frozenset[str] | None:
    """Entry-point names disabled by ``CLARIMAP_DISABLE_PLUGINS``; ``None`` means all of them."""
    value = os.environ.get(DISABLE_ENV_VAR, "").strip()
    if value.lower() in ("", "0", "false", "no"):
        return frozenset()
    if value.lower() in ("1", "true", "yes", "all"):
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def load_builtin_plugins(manager: ClarimapPluginManager) -> None:
    """Register clarimap's own plugins (the default media sources, model cache and transports)."""
    from clarimap import __version__
    from clarimap._builtin_plugins import builtin_plugins

    for name, plugin in builtin_plugins():
        manager.register_plugin(
            plugin, name, origin="builtin", distribution="clarimap", version=__version__
        )


def load_entry_point_plugins(manager: ClarimapPluginManager) -> None:
    """Register every plugin in the ``clarimap`` entry-point group, unless disabled."""
    disabled = disabled_entry_points()
    if disabled is None:
        return
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in disabled:
            continue
        distribution = entry_point.dist
        dist_name = distribution.metadata["Name"] if distribution is not None else None
        version = distribution.version if distribution is not None else None
        existing = manager.get_plugin(entry_point.name)
        if existing is not None or manager.is_blocked(entry_point.name):
            known = manager._origins.get(entry_point.name)
            if known is not None and known[1] == dist_name:
                continue  # the same distribution seen twice on sys.path
            raise PluginError(
                f"two plugins are named {entry_point.name!r}: one from "
                f"{known[1] if known else 'unknown'} and one from {dist_name}",
                plugin=entry_point.name,
            )
        try:
            plugin = entry_point.load()
        except Exception as error:
            raise PluginError(
                f"plugin {entry_point.name!r} ({dist_name} {version}) failed to load "
                f"{entry_point.value!r}: {type(error).__name__}: {error}",
                plugin=entry_point.name,
            ) from error
        manager.register_plugin(
            plugin, entry_point.name, origin="entry point", distribution=dist_name, version=version
        )


def make_plugin_manager(*, entry_points: bool = True) -> ClarimapPluginManager:
    """A new manager with the built-ins and (unless ``entry_points=False``) the entry points."""
    manager = ClarimapPluginManager()
    load_builtin_plugins(manager)
    if entry_points:
        load_entry_point_plugins(manager)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        name = manager.get_name(error.plugin) or repr(error.plugin)
        raise PluginError(f"plugin {name!r} is invalid: {error}", plugin=name) from error
    return manager


_manager: ClarimapPluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> ClarimapPluginManager:
    """The process-wide plugin manager, made on first use."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = make_plugin_manager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager; the next :func:`get_plugin_manager` loads plugins again."""
    global _manager
    with _manager_lock:
        _manager = None


@contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[ClarimapPluginManager]:
    """Register ``plugin`` on the process-wide manager for the ``with`` block (for tests)."""
    manager = get_plugin_manager()
    plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
    manager.register_plugin(plugin, plugin_name)
    try:
        yield manager
    finally:
        manager.unregister_plugin(plugin_name)


def model_cache(scope: str = "") -> MutableMapping[str, str]:
    """The model name -> id mapping a session for ``scope`` uses (``clarimap_model_cache``).

    ``scope`` names the server and app (names are unique only within an app). The session
    fills the mapping lazily as it looks names up and deletes a name when the server says the
    model does not exist.
    """
    manager = get_plugin_manager()
    cache = manager.call_first("clarimap_model_cache", MutableMapping, scope=scope)
    if cache is None:
        raise PluginError(
            "no plugin gives a model cache (the built-in one was unregistered)",
            hook="clarimap_model_cache",
        )
    return cast("MutableMapping[str, str]", cache)


def transport_adapter(url: str) -> BaseAdapter | None:
    """The adapter a plugin gives for ``url``'s scheme, or ``None`` for plain http(s).

    Raises :class:`PluginError` for any other scheme no plugin serves.
    """
    from requests.adapters import BaseAdapter

    manager = get_plugin_manager()
    adapter: BaseAdapter | None = manager.call_first(
        "clarimap_transport_adapter", BaseAdapter, url=url
    )
    if adapter is None:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in ("http", "https"):
            raise PluginError(
                f"no transport for URL {url!r}: use http://, https:// or a scheme an installed "
                f"plugin serves (transport plugins: "
                f"{', '.join(manager.implementers('clarimap_transport_adapter')) or '(none)'})",
                hook="clarimap_transport_adapter",
            )
    return adapter


ModelRegister = Callable[..., None]


def register_models(register: ModelRegister) -> None:
    """Call ``clarimap_register_models`` on every plugin; for the local server's models module.

    Each plugin gets its own ``register`` that forwards to ``register(model_id, model, ...)``;
    a model id registered by two plugins raises :class:`PluginError` naming both.
    """
    manager = get_plugin_manager()
    owners: dict[str, str] = {}

    def register_for(plugin_name: str) -> ModelRegister:
        def register_for_plugin(model_id: str, model: object, *args: Any, **kwargs: Any) -> None:
            if model_id in owners:
                raise PluginError(
                    f"model id {model_id!r} is registered by both {owners[model_id]!r} and "
                    f"{plugin_name!r}",
                    plugin=plugin_name,
                    hook="clarimap_register_models",
                )
            owners[model_id] = plugin_name
            register(model_id, model, *args, **kwargs)

        return register_for_plugin

    for impl in reversed(manager.hook.clarimap_register_models.get_hookimpls()):
        plugin_name = impl.plugin_name
        result = manager.call_impl(
            impl, "clarimap_register_models", register=register_for(plugin_name)
        )
        if result is not None:
            raise PluginError(
                f"plugin {plugin_name!r} returned {type(result).__name__} from "
                "clarimap_register_models; it should call register() and return None",
                plugin=plugin_name,
                hook="clarimap_register_models",
            )
