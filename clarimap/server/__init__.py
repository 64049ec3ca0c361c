"""The local Clarifai-compatible server (install the ``server`` extra).

``create_app(database)`` returns the WSGI application; ``clarimap serve`` runs it over HTTP and
``clarimap.connect("local://PATH")`` runs it inside the calling process.
"""

from clarimap.server.app import ServerApp, create_app

__all__ = ["ServerApp", "create_app"]
