"""The pluggy markers and every ``clarimap_*`` hook a plugin may implement.

A plugin is any object (a module, a class instance) with functions marked ``@hookimpl`` whose
names are the hooks below. clarimap's own behaviour (the built-in media sources, the in-memory
model cache, the ``local://`` transport) is registered through these same hooks, first; plugins
from the ``clarimap`` entry-point group are registered after them, so pluggy calls a plugin's
implementation before the built-in one.

Every hook is documented in ``docs/plugins/hooks.md``; ``tests/plugins/test_docs.py`` fails when
a hook or its signature is missing there.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:
    from requests.adapters import BaseAdapter

    from clarimap.media import ResolvedMedia

PROJECT_NAME = "clarimap"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

MediaKind = Literal["image", "video"]
ModelRegistrar = Callable[..., None]


@hookspec(firstresult=True)
def clarimap_resolve_media(source: object, kind: MediaKind | None) -> ResolvedMedia | None:
    """Turn what a user passed as an image or video into the wire's ``url`` or ``base64``.

    Receives ``source`` (whatever was passed to :func:`clarimap.media.resolve_media`, for
    example by ``Input.from_media``) and ``kind``: ``"image"`` or ``"video"`` when the caller
    said which, ``None`` to let the source guess. Returns a :class:`clarimap.media.ResolvedMedia`
    when this plugin handles ``source``, or ``None`` to let the next plugin try.

    Called each time a media source is resolved. ``firstresult``: the first plugin that returns
    something wins; plugins from entry points are asked before the built-in sources. Raise a
    :class:`clarimap.errors.MediaError` subclass for a source you claim but cannot read (a
    missing file, a malformed URI); any other exception is reported as a fault of the plugin.
    """


@hookspec(firstresult=True)
def clarimap_model_cache(scope: str) -> MutableMapping[str, str] | None:
    """Give the mapping a session uses to remember model names -> model ids.

    Receives ``scope``, a string naming the server and app the session talks to (for example
    ``"https://api.clarifai.com/v2/users/me/apps/photos"``); names are only unique within it.
    Returns a ``MutableMapping[str, str]`` or ``None`` to let the next plugin answer.

    Called once when a session is made (through :func:`clarimap.plugins.model_cache`).
    ``firstresult``. The session fills the mapping lazily, one name at a time as it looks models
    up, and deletes a name when the server says that model does not exist. The built-in cache is
    a ``cachetools.TTLCache`` in memory.
    """


@hookspec(firstresult=True)
def clarimap_transport_adapter(url: str) -> BaseAdapter | None:
    """Give the ``requests`` transport adapter for a base URL's scheme.

    Receives the ``url`` passed to ``clarimap.connect`` (``local://photos.db``, say). Returns
    a ``requests.adapters.BaseAdapter`` that the session mounts for that URL's ``scheme://``
    prefix, or ``None`` when this plugin does not serve that scheme.

    Called once by ``clarimap.connect`` for each session it makes. ``firstresult``. ``http``
    and ``https`` use requests' own adapter when no plugin claims them; the built-in plugin
    serves ``local://`` with the embedded server in process.
    """


@hookspec
def clarimap_register_models(register: ModelRegistrar) -> None:
    """Add models to the local server through the ``register`` callback it hands you.

    Receives ``register``; call it once for each model: ``register(model_id, model)``, where
    ``model`` is a runnable model object or a factory (a class, or any callable without
    arguments) that builds one on first use (see :mod:`clarimap.server.modelzoo`).
    Returns nothing.

    Called once by the local server when it is created, for every plugin (not
    ``firstresult``); a model id registered twice is an error that names both plugins.
    """


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name in sorted(globals()) if name.startswith(PROJECT_NAME + "_")
)
