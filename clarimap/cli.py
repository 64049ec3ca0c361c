"""The ``clarimap`` command line: ``clarimap serve``, ``clarimap demo`` and friends.

Each subcommand is one ``add_<name>_command(subparsers)`` function that adds its parser and sets
``handler`` (a function of the parsed arguments returning the exit code); :data:`COMMANDS` lists
them in the order ``clarimap --help`` shows them. Adding a subcommand is writing such a function
and appending it to :data:`COMMANDS`.

Exit codes: 0 success, 1 the command failed, 2 bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from clarimap import __version__

DATABASE_FILE_NAME = "clarimap.sqlite3"
"""The name of the SQLite database inside a ``--data`` directory."""

SERVER_EXTRA_MODULES = ("waitress", "PIL", "numpy")
"""Modules the ``server`` extra installs; the server commands check for them first."""

Subparsers = Any  # argparse's _SubParsersAction is private; its instances are all we use
CommandAdder = Callable[[Subparsers], None]


class CommandError(Exception):
    """A command failed for a reason the user can fix; ``main`` prints the message, exits 1."""


# ---------------------------------------------------------------------------------------------
# shared helpers


def require_server_extra(command: str) -> None:
    """Raise :class:`CommandError` naming the install command when the server extra is missing."""
    missing = [name for name in SERVER_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError(
            f"clarimap {command} needs the local server, which is not installed "
            f"(missing: {', '.join(missing)}); install it with: pip install 'clarimap[server]'"
        )


def port_number(text: str) -> int:
    """An argparse type: a TCP port from 0 to 65535 (0 picks a free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number: give an integer from 0 to 65535 (0 picks a free port)"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is out of range: give a port from 0 to 65535 (0 picks a free port)"
        )
    return port


def database_path(data: str | None, option: str = "--data") -> str:
    """The SQLite database for a ``--data`` value: ``DIR/clarimap.sqlite3``, or ``:memory:``.

    ``option`` names the command-line option in error messages.
    """
    if data is None or data == ":memory:":
        return ":memory:"
    directory = Path(data).expanduser()
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"{option} {data}: not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{option} {data}: cannot create the directory: {error}") from None
    return str(directory / DATABASE_FILE_NAME)


# ---------------------------------------------------------------------------------------------
# clarimap serve


def add_serve_command(subparsers: Subparsers) -> None:
    """``clarimap serve``: the local Clarifai-compatible server over HTTP."""
    parser = subparsers.add_parser(
        "serve",
        help="run the local Clarifai-compatible server over HTTP",
        description=(
            "Serve the Clarifai v2 JSON API over HTTP (waitress, threaded, keep-alive). Prints the "
            "server's URL on one line to stdout once it listens; stops cleanly on SIGINT "
            "(Ctrl-C) and SIGTERM."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: %(default)s, loopback only)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=8080,
        help="the TCP port (default: %(default)s; 0 picks a free port)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help=(
            f"the data directory; the database is DIR/{DATABASE_FILE_NAME}, created if missing. "
            "Default (or ':memory:'): an in-memory database, lost when the server stops"
        ),
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        action="append",
        default=[],
        dest="api_keys",
        help=(
            "accept only this key ('Authorization: Key KEY'); repeat for several keys. With none, "
            "any key is accepted"
        ),
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="worker threads answering requests (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help=(
            "what the server logs to stderr: info adds the progress of processing a backlog of "
            "uploads and resumed or adopted inputs (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help=(
            "write a line per request to stderr: client, method and path, HTTP status, "
            "Clarifai status code, time taken"
        ),
    )
    parser.set_defaults(handler=run_serve)


def _log_to_stderr(level: str) -> None:
    """Send the ``clarimap`` loggers' records at ``level`` and above to stderr, once."""
    import logging

    logger = logging.getLogger("clarimap")
    if not any(getattr(handler, "clarimap_serve", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("clarimap: %(message)s"))
        handler.clarimap_serve = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level.upper())


class _StopServing(SystemExit):
    """Raised by the signal handler to leave waitress' loop (it catches SystemExit and stops)."""


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then close the server and the database."""
    require_server_extra("serve")
    if args.threads < 1:
        raise CommandError(f"--threads {args.threads}: give at least 1")
    database = database_path(args.data)
    _log_to_stderr(args.log_level)

    from clarimap.errors import ConfigurationError
    from clarimap.server import create_app
    from clarimap.server.http import HTTPServer

    try:
        server_app = create_app(database, api_keys=args.api_keys)
    except ConfigurationError as error:  # the directory exists but takes no database
        raise CommandError(f"--data {args.data}: {error}") from None
    try:
        try:
            http_server = HTTPServer(
                server_app,
                args.host,
                args.port,
                threads=args.threads,
                access_log=sys.stderr if args.access_log else None,
            )
        except OSError as error:
            raise CommandError(
                f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
            ) from None

        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            if stopping:  # a second signal while shutting down: let the shutdown finish
                return
            stopping = True
            raise _StopServing(0)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            where = "in memory" if database == ":memory:" else database
            keys = f"{len(args.api_keys)} API key(s)" if args.api_keys else "any API key"
            try:
                print(
                    f"clarimap {__version__}: serving data {where}, accepting {keys}",
                    file=sys.stderr,
                    flush=True,
                )
                print(http_server.url, flush=True)
                http_server.serve_forever()
            except _StopServing:  # the signal came outside waitress' loop
                pass
            stopping = True
            http_server.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        server_app.close()
    print("clarimap: server stopped", file=sys.stderr, flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# clarimap demo


def add_demo_command(subparsers: Subparsers) -> None:
    """``clarimap demo``: a walk through the API against the embedded server."""
    parser = subparsers.add_parser(
        "demo",
        help="walk through the API against the embedded server (offline, a few seconds)",
        description=(
            "A guided tour of clarimap against the local server run inside this process (no "
            "socket, no network): upload, list, edit, search and delete the sample photos, "
            "predict with the public models, train a model and predict with it. Each step "
            "prints the Python it runs, what came back and the API calls it sent."
        ),
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        default=None,
        help=(
            f"keep the demo's data in DIR/{DATABASE_FILE_NAME} (DIR must not hold one yet), to "
            "look at afterwards with: clarimap serve --data DIR. Default: an in-memory database"
        ),
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run :func:`clarimap.demo.run_demo`, in memory or (``--keep DIR``) in ``DIR``."""
    require_server_extra("demo")
    from clarimap import demo

    if args.keep is None:
        return demo.run_demo(sys.stdout)
    database = database_path(args.keep, "--keep")
    if Path(database).exists():
        raise CommandError(
            f"--keep {args.keep}: {database} already exists; give a new directory (or delete it)"
        )
    code = demo.run_demo(sys.stdout, database=database)
    if code == 0:
        print(
            f"\nThe demo's data is in {database}; serve it with: clarimap serve --data {args.keep}"
        )
    return code


# ---------------------------------------------------------------------------------------------
# clarimap plugins


def add_plugins_command(subparsers: Subparsers) -> None:
    """``clarimap plugins``: the loaded plugins, with their distributions and versions."""
    parser = subparsers.add_parser(
        "plugins",
        help="list the loaded plugins with their versions and hooks",
        description=(
            "List clarimap's plugins in registration order: the built-ins, then those found "
            "through the 'clarimap' entry-point group (CLARIMAP_DISABLE_PLUGINS=1 skips those)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run_plugins)


def run_plugins(args: argparse.Namespace) -> int:
    """Print :meth:`clarimap.plugins.ClarimapPluginManager.plugin_infos` as a table or JSON."""
    from clarimap.plugins import PluginError, get_plugin_manager

    try:
        infos = get_plugin_manager().plugin_infos()
    except PluginError as error:
        raise CommandError(str(error)) from None
    if args.json:
        import json

        rows = [
            {
                "name": info.name,
                "origin": info.origin,
                "distribution": info.distribution,
                "version": info.version,
                "hooks": list(info.hooks),
            }
            for info in infos
        ]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "origin", "distribution", "version", "hooks")
    table = [header] + [
        (
            info.name,
            info.origin,
            info.distribution or "-",
            info.version or "-",
            ", ".join(info.hooks) or "-",
        )
        for info in infos
    ]
    widths = [max(len(row[column]) for row in table) for column in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    return 0


def add_config_command(subparsers: Subparsers) -> None:
    """``clarimap config``: write the key, PAT, app and base URL to ~/.clarifai/config (0600)."""
    parser = subparsers.add_parser(
        "config",
        help="save credentials and the base URL in ~/.clarifai/config (mode 0600)",
        description=(
            "Write the settings given to ~/.clarifai/config, the file the 2.6.2 client read, "
            "with mode 0600; settings not given keep their values. With no option, asks for "
            "the API key (not echoed). clarimap.connect() reads the file after arguments and "
            "the CLARIFAI_* environment variables."
        ),
    )
    parser.add_argument("--api-key", help="an app API key (CLARIFAI_API_KEY)")
    parser.add_argument("--pat", help="a personal access token (CLARIFAI_PAT)")
    parser.add_argument("--user-id", help="the user the PAT reaches apps of (CLARIFAI_USER_ID)")
    parser.add_argument("--app-id", help="the app (CLARIFAI_APP_ID)")
    parser.add_argument("--base-url", help="the API base URL (CLARIFAI_API_BASE)")
    parser.add_argument("--path", type=Path, help="write this file instead of ~/.clarifai/config")
    parser.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    """Write the config file with :func:`clarimap.config.write_config`."""
    import getpass

    from clarimap.config import ENV_NAMES, write_config
    from clarimap.errors import ConfigurationError

    given = {
        "api_key": args.api_key,
        "pat": args.pat,
        "user_id": args.user_id,
        "app_id": args.app_id,
        "base_url": args.base_url,
    }
    if all(value is None for value in given.values()):
        if not sys.stdin.isatty():
            raise CommandError(
                "give at least one of --api-key, --pat, --user-id, --app-id, --base-url"
            )
        given["api_key"] = getpass.getpass("CLARIFAI_API_KEY: ") or None
    try:
        path = write_config(path=args.path, **given)
    except ConfigurationError as error:
        raise CommandError(str(error)) from None
    for name, value in given.items():
        if value is not None:
            shown = "(set)" if name in ("api_key", "pat") else value
            print(f"{ENV_NAMES[name]} = {shown}")
    print(f"wrote {path} (mode 0600)")
    return 0


# ---------------------------------------------------------------------------------------------
# entry point

COMMANDS: list[CommandAdder] = [
    add_serve_command,
    add_demo_command,
    add_plugins_command,
    add_config_command,
]
"""Every subcommand's parser builder, in ``--help`` order."""


def build_parser() -> argparse.ArgumentParser:
    """The ``clarimap`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="clarimap",
        description="clarimap: an object mapper for the Clarifai API, with a local server.",
    )
    parser.add_argument("--version", action="version", version=f"clarimap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except CommandError as error:
        print(f"clarimap {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"clarimap {args.command}: interrupted", file=sys.stderr)
        return 130
