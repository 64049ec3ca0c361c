"""``clarimap serve`` as a subprocess, for tests that need a real server process.

Used by tests/server/test_cli.py, test_legacy_client.py and test_durability.py::

    with ServeProcess(data=tmp_path / "data", api_keys=["k"]) as server:
        requests.get(f"{server.url}/v2/inputs", headers={"Authorization": "Key k"})

The server binds 127.0.0.1 on a free port (``--port 0``); the URL is the first line it prints.
Leaving the block stops it (SIGTERM, then SIGKILL if it does not stop in time).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0


class ServeProcess:
    """A ``clarimap serve`` subprocess; ``url`` is set once :meth:`start` returns."""

    def __init__(
        self,
        *,
        data: Path | str | None = None,
        api_keys: Sequence[str] = (),
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "clarimap",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if data is not None:
            self.args += ["--data", str(data)]
        for key in api_keys:
            self.args += ["--api-key", key]
        self.args += list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)

    def start(self) -> ServeProcess:
        """Start the server and wait for the URL it prints; ``RuntimeError`` if it does not."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline().decode().strip()
                if line:
                    self.url = line
                    return self
            if self.process.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"clarimap serve did not print its URL; stderr:\n{self.stderr()}")

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Send ``sig`` and wait for the exit code (SIGKILL after ``timeout`` seconds)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError(
                    f"clarimap serve did not stop {timeout} s after signal {sig}; killed it"
                ) from None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies at once, with no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self.kill()
            if self.process is not None and self.process.stdout is not None:
                self.process.stdout.close()
            self._stderr.close()
