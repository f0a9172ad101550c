"""Drop-in check: the PyPI package's `runagents` console script delegates to our binary.

How the 1.4.2 wrapper finds the CLI (`runagents/cli/binary.py`, `ensure_binary`): first a cached
`~/.runagents/bin/runagents-1.4.2`, then the first `runagents` on PATH unless that is the
wrapper itself, and only then a download. So each run gets an empty HOME (no cache) and a PATH
that starts with a directory holding only our binary; proxy variables pointing at a closed
port make any download attempt fail at once instead of leaving the machine. `init`, `dev`,
`help` and a bare `runagents` stay in Python; `version` prints the SDK's version, then ours.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

from conftest import BIN

WRAPPER = pathlib.Path(sys.executable).parent / "runagents"


class Wrapper:
    """Runs the wrapper as a person would, against `server`."""

    def __init__(self, server):
        self._dir = tempfile.TemporaryDirectory()
        root = pathlib.Path(self._dir.name)
        self.home = root / "home"
        self.home.mkdir()
        self.cwd = root / "work"
        self.cwd.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "runagents").symlink_to(BIN.resolve())
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNAGENTS_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
        closed = "http://127.0.0.1:9"
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(self.home),
            RUNAGENTS_ENDPOINT=server.url,
            RUNAGENTS_API_KEY=server.key,
            http_proxy=closed, https_proxy=closed, HTTP_PROXY=closed, HTTPS_PROXY=closed,
            no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
        )
        self.env = env

    def run(self, *args) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(WRAPPER), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60)
        assert "Downloading" not in proc.stdout + proc.stderr, proc
        assert not (self.home / ".runagents" / "bin").exists(), "the wrapper tried to install a binary"
        return proc

    def close(self):
        self._dir.cleanup()


@pytest.fixture
def wrapper(server):
    w = Wrapper(server)
    yield w
    w.close()


def test_wrapper_is_the_python_packages_script():
    assert WRAPPER.exists(), WRAPPER
    assert "runagents.cli.main" in WRAPPER.read_text()


def test_tools_list_json(wrapper, client):
    client.tools.create("echo", "http://127.0.0.1:8092/echo", description="Echo")
    proc = wrapper.run("tools", "list", "-o", "json")
    assert proc.returncode == 0, proc
    tools = json.loads(proc.stdout)
    assert [t["name"] for t in tools] == ["echo"]
    assert tools[0]["base_url"] == "http://127.0.0.1:8092/echo"


def test_deploy_then_agents_list(wrapper, client):
    (wrapper.cwd / "agent.py").write_text("def handler(request, context):\n    return {'response': 'hi'}\n")
    proc = wrapper.run("deploy", "--name", "helper", "--file", "agent.py", "--model", "openai/gpt-4o-mini")
    assert proc.returncode == 0, proc
    assert 'agent "helper" deployed' in proc.stdout

    proc = wrapper.run("agents", "list")
    assert proc.returncode == 0, proc
    header, row = proc.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "MODE", "MODEL", "TOOLS", "CREATED"]
    assert row.split()[:4] == ["helper", "Pending", "PYTHON_RUNTIME", "openai/gpt-4o-mini"]
    # What the CLI deployed is what the SDK sees.
    assert [a.name for a in client.agents.list()] == ["helper"]


def test_errors_and_exit_codes_pass_through(wrapper):
    proc = wrapper.run("tools", "get", "nope")
    assert proc.returncode == 3, proc
    assert proc.stderr.startswith('error: tool "nope" not found (HTTP 404)'), proc
    # An unknown approval: the not-found code comes through the wrapper.
    proc = wrapper.run("approvals", "approve", "req-1", "--scope", "window", "--duration", "4h")
    assert proc.returncode == 3, proc
    assert 'access request "req-1" not found (HTTP 404)' in proc.stderr, proc


def test_version_runs_both(wrapper):
    proc = wrapper.run("version")
    assert proc.returncode == 0, proc
    lines = proc.stdout.splitlines()
    assert lines[0] == "runagents (Python SDK) 1.4.2"
    assert lines[1].startswith("runagents 0."), proc
