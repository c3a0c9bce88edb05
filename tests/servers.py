"""The real server in a child process, for tests that kill it or need real sockets."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import httpx

from tests.conftest import ADMIN_KEY
from tests.pg import free_port

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """`uvicorn main:app` (the seed's command) on a free loopback port."""

    def __init__(self, database_url: str, *, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "ADMIN_API_KEY": ADMIN_KEY,
            "SCHEDULER_ENABLED": "false",
            **env,
        }
        self._workers = workers
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self, timeout: float = 30) -> "ServerProcess":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "main:app",
            "--app-dir",
            str(ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]
        if self._workers > 1:
            command += ["--workers", str(self._workers)]
        # A file, not a pipe: nobody reads a pipe while the server runs, and once 64 KiB of log
        # fill it the server blocks on its next log line.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by kill, with the server)
        self._process = subprocess.Popen(
            command,
            # Not the checkout: a developer's .env there must not leak into the test.
            cwd=tempfile.gettempdir(),
            env=self._env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._stderr.seek(0)
                log = self._stderr.read().decode()
                self.kill()
                raise RuntimeError(f"server exited: {log}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not become healthy in time")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the server and all its workers, and wait for them to go."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)
        self._process.wait(timeout=30)
        if self._stderr:
            # pytest shows what a test printed only when it fails: then the server's log helps.
            self._stderr.seek(0)
            sys.stdout.write(f"--- log of the server on port {self.port} ---\n")
            sys.stdout.write(self._stderr.read().decode(errors="replace") + "\n")
            self._stderr.close()
        self._process = None

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.kill(signal.SIGTERM)
