"""A tiny HTTP server on 127.0.0.1 that serves fixed bytes, for the input download tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLES = Path(__file__).parent.parent.parent / "clarimap" / "demo_data"


class MediaServer:
    """Serves ``files`` (path -> bytes) on a free loopback port; any other path answers 404."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests.append(self.path)
                body = served.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> MediaServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@contextmanager
def media_server(files: dict[str, bytes] | None = None) -> Iterator[MediaServer]:
    """A started :class:`MediaServer` serving the sample photos (``/cat.jpg``...) and ``files``."""
    served = {
        f"/{path.name}": path.read_bytes() for path in SAMPLES.glob("*.*") if path.suffix != ".md"
    }
    served.update(files or {})
    server = MediaServer(served).start()
    try:
        yield server
    finally:
        server.close()


def closed_port_url(path: str = "/cat.jpg") -> str:
    """A URL on 127.0.0.1 at a port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
