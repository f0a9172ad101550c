"""Fixtures for the SDK compatibility suite.

Each test gets a fresh `runagents serve` (the real binary) on SQLite and on PostgreSQL, and a
`runagents.Client` from the PyPI package pointed at it.
"""

import os
import pathlib
import subprocess
import tempfile
import threading
import queue
import re

import pytest
import runagents

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = pathlib.Path(os.environ.get("RUNAGENTS_BIN", TARGET / "debug" / "runagents"))
TESTKIT_POSTGRES = TARGET / "debug" / "testkit-postgres"


class Server:
    """A running `runagents serve`; `url` is the operator API, `key` the bootstrap admin key."""

    def __init__(self, backend: str, extra_args=(), hosting: bool = False):
        self.hosting = hosting
        self._dir = tempfile.TemporaryDirectory()
        self.data_dir = pathlib.Path(self._dir.name) / "data"
        self.backend = backend
        self.database_url = None
        if backend == "postgres":
            self.database_url = subprocess.check_output([str(TESTKIT_POSTGRES), "createdb"], text=True).strip()
        self.extra_args = list(extra_args)
        self.lines: list[str] = []
        self._start()

    def _start(self):
        args = [str(BIN), "serve", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNAGENTS_")}
        # Python agents are built and run only where a test asks; environments are shared.
        env["RUNAGENTS_HOSTING"] = "local" if self.hosting else "off"
        env["RUNAGENTS_ENV_DIR"] = str(TARGET / "tmp" / "runagents-envs")
        self.proc = subprocess.Popen(args + self.extra_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        found: "queue.Queue[str]" = queue.Queue()
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._drain, args=(stream, found), daemon=True).start()
        self.url = self.agent_url = None
        while self.url is None or self.agent_url is None:
            try:
                line = found.get(timeout=30)
            except queue.Empty:
                self.stop()
                raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
            for marker, attr in (("operator API listening on ", "url"), ("agent plane listening on ", "agent_url")):
                if marker in line:
                    setattr(self, attr, re.match(r'[^\s",}]+', line.split(marker, 1)[1]).group(0))
        key_file = self.data_dir / "bootstrap-admin.key"
        self.key = key_file.read_text().strip() if key_file.exists() else ""

    def _drain(self, stream, found):
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            found.put(line)

    def output(self) -> str:
        return "\n".join(self.lines)

    def client(self, key=None, workspace=None) -> runagents.Client:
        endpoint = self.url if workspace is None else f"{self.url}/workspaces/{workspace}"
        return runagents.Client(endpoint=endpoint, api_key=self.key if key is None else key)

    def restart(self):
        self.stop()
        self.lines = []
        self._start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(params=["sqlite", "postgres"])
def server(request):
    srv = Server(request.param)
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> runagents.Client:
    return server.client()


@pytest.fixture(params=["sqlite", "postgres"])
def hosting_server(request):
    """A server that builds and runs Tier-2 (Python) agents."""
    srv = Server(request.param, hosting=True)
    yield srv
    srv.stop()
