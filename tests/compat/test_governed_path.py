"""The SDK's approvals and runs calls against the governed path: an agent's write is blocked,
the operator approves or rejects it through `client.approvals`, and `client.runs` shows it."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Upstream:
    """A local tool server that records what reaches it."""

    def __init__(self):
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def agent_call(method, url, run_id, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"X-Run-ID": run_id, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def governed(client):
    upstream = Upstream()
    client.post("/tools", {"name": "stripe", "spec": {"connection": {"baseUrl": upstream.url}}})
    client.policies.apply({"policies": [
        {"permission": "allow", "operations": ["GET"], "resource": upstream.url + "/*"},
        {"permission": "approval_required", "operations": ["POST"], "resource": upstream.url + "/*"},
    ]}, name="reads-ok-writes-approved")
    client.agents.deploy("billing", source_files={"README.md": "Billing helper."}, required_tools=["stripe"], policies=["reads-ok-writes-approved"])
    credential = client.post("/agents/billing/credentials")
    run = client.post("/runs", {"agent_id": "billing", "user_id": "alice@example.com", "initial_message": "refund order 7"})
    yield upstream, credential["tool_urls"]["TOOL_URL_STRIPE"], run["id"]
    upstream.httpd.shutdown()


def wait_status(client, run_id, status):
    for _ in range(200):
        run = client.runs.get(run_id)
        if run.status == status:
            return run
        time.sleep(0.025)
    raise AssertionError(f"run never reached {status}")


def test_approve_with_run_scope(client, governed):
    upstream, tool_url, run_id = governed
    assert agent_call("GET", tool_url + "/v1/balance", run_id)[0] == 200
    status, blocked = agent_call("POST", tool_url + "/v1/charges", run_id, {"amount": 100})
    assert status == 403 and blocked["code"] == "APPROVAL_REQUIRED"

    pending = client.approvals.list()
    assert [(r.agent_id, r.tool_id, r.status, r.run_id) for r in pending] == [("billing", "stripe", "PENDING", run_id)]
    assert client.runs.get(run_id).status == "PAUSED_APPROVAL"
    assert client.runs.get(run_id).blocked_action_id == blocked["action_id"]

    approved = client.approvals.approve(pending[0].id, scope="run", reason="ok")
    assert (approved.status, approved.scope, approved.reason) == ("APPROVED", "run", "ok")
    wait_status(client, run_id, "RUNNING")
    assert [s for s in upstream.seen if s[0] == "POST"][0][3] == b'{"amount": 100}'
    assert agent_call("POST", tool_url + "/v1/charges", run_id, {"amount": 5})[0] == 200
    assert client.approvals.list() == []

    types = [event.type for event in client.runs.events(run_id)]
    for expected in ("RUN_CREATED", "USER_MESSAGE", "TOOL_REQUEST", "TOOL_RESPONSE", "APPROVAL_REQUIRED", "APPROVED", "TOOL_CALLED", "RESUMED"):
        assert expected in types
    assert [e.seq for e in client.runs.events(run_id)] == sorted(e.seq for e in client.runs.events(run_id))
    assert len(client.runs.events(run_id, limit=2)) == 2
    timeline = client.runs.timeline(run_id)
    assert any("Approval required" in entry.summary or entry.type == "APPROVAL_REQUIRED" for entry in timeline)
    assert [r.id for r in client.runs.list(agent="billing")] == [run_id]


def test_window_approval_with_duration(client, governed):
    _, tool_url, run_id = governed
    status, blocked = agent_call("POST", tool_url + "/v1/charges", run_id, {"amount": 1})
    request = client.approvals.list()[0]
    approved = client.approvals.approve(request.id, duration="30m")
    assert (approved.scope, approved.duration) == ("agent_user_ttl", "30m")
    assert approved.expires_at
    wait_status(client, run_id, "RUNNING")


def test_reject_fails_the_run_and_wait_returns(client, governed):
    upstream, tool_url, run_id = governed
    agent_call("POST", tool_url + "/v1/charges", run_id, {"amount": 100})
    request = client.approvals.list()[0]
    rejected = client.approvals.reject(request.id, reason="no")
    assert (rejected.status, rejected.reason) == ("REJECTED", "no")
    run = client.runs.wait(run_id, timeout_seconds=10, interval_seconds=1)
    assert run.status == "FAILED"
    assert [s for s in upstream.seen if s[0] == "POST"] == []
    assert client.runs.events(run_id, event_type="rejected")[0].type == "REJECTED"
