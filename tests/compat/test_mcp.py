"""`runagents mcp` driven by the real `mcp` client from PyPI over stdio, against a running
platform: the tool list (every tool of the public runagents 1.4.2 MCP server, with its
parameters, plus list_approvals), read tools, approving a held call, and wait_for_run timing
out as a result rather than an error."""

import asyncio
import json
import os
import tempfile

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import BIN
from test_governed_path import Upstream, agent_call

# The public server's tools (runagents/mcp/server.py in runagents 1.4.2) and their parameters.
PUBLIC = {
    "list_agents": [], "get_agent": ["name"], "get_agent_config": ["name"], "list_tools": [],
    "list_models": [], "get_model_spend": [],
    "list_runs": ["agent", "status", "user", "conversation", "limit"],
    "get_run": ["run_id"], "get_run_events": ["run_id", "event_type", "limit"],
    "get_run_timeline": ["run_id"], "wait_for_run": ["run_id", "timeout_seconds", "interval_seconds"],
    "export_run": ["run_id"],
    "list_catalog_agents": ["search", "categories", "tags", "integrations", "governance", "page", "page_size"],
    "get_catalog_agent": ["agent_id", "version"], "list_catalog_versions": ["agent_id"],
    "list_policies": [], "get_policy": ["name"], "translate_policy": ["text"],
    "list_approval_connectors": [], "get_approval_connector": ["connector_id"],
    "get_approval_connector_defaults": [], "list_approval_connector_activity": ["limit"],
    "list_identity_providers": [], "get_identity_provider": ["name"], "export_context": [],
    "analyze_code": ["files"],
    "deploy_agent": ["agent_name", "source_files", "image", "system_prompt", "required_tools", "tools_to_create",
                     "llm_configs", "requirements", "entry_point", "framework", "policies", "identity_provider",
                     "draft_id", "artifact_id"],
    "deploy_catalog_agent": ["agent_id", "version", "name", "tools", "model", "policies", "identity_provider"],
    "create_tool": ["name", "base_url", "description", "auth_type", "port", "scheme"],
    "validate_plan": ["plan"], "apply_plan": ["plan"], "update_agent_config": ["name", "config"],
    "approve_request": ["request_id", "scope", "duration"], "reject_request": ["request_id"],
    "apply_policy": ["policy", "name"], "delete_policy": ["name"], "apply_approval_connector": ["connector"],
    "apply_identity_provider": ["identity_provider", "name"], "delete_identity_provider": ["name"],
    "delete_approval_connector": ["connector_id"], "test_approval_connector": ["connector_id"],
    "set_approval_connector_defaults": ["delivery_mode", "fallback_to_ui", "timeout_seconds"],
    "seed_starter_kit": [],
}


def with_mcp(server, scenario):
    """Runs `scenario(session)` against `runagents mcp` pointed at `server` by env."""
    home = tempfile.TemporaryDirectory()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNAGENTS_")}
    env.update(HOME=home.name, RUNAGENTS_ENDPOINT=server.url, RUNAGENTS_API_KEY=server.key)

    async def main():
        params = StdioServerParameters(command=str(BIN), args=["mcp"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "runagents"
                return await scenario(session)

    try:
        return asyncio.run(main())
    finally:
        home.cleanup()


async def call(session, tool, **arguments):
    """(is_error, the tool's JSON answer)."""
    result = await session.call_tool(tool, arguments)
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.is_error, json.loads(result.content[0].text)


def test_lists_every_public_tool_and_list_approvals(server):
    async def scenario(session):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in with_mcp(server, scenario)}
    assert set(tools) == set(PUBLIC) | {"list_approvals"}
    assert len(tools) == 44
    for name, params in PUBLIC.items():
        schema = tools[name].input_schema
        assert set(params) <= set(schema["properties"]), name
        # Anything we add is optional.
        assert set(schema["required"]) <= set(params), name
        assert len(tools[name].description) > 30, name
    assert tools["get_run"].annotations.read_only_hint is True
    assert tools["delete_policy"].annotations.destructive_hint is True
    assert tools["wait_for_run"].input_schema["required"] == ["run_id"]


def test_read_tools_and_errors(server):
    async def scenario(session):
        assert await call(session, "list_agents") == (False, [])
        error, seeded = await call(session, "seed_starter_kit")
        assert not error and "echo-tool" in json.dumps(seeded)
        error, tools = await call(session, "list_tools")
        assert not error and "echo-tool" in [tool["name"] for tool in tools]
        error, models = await call(session, "list_models")
        assert not error and "playground-llm" in [model["name"] for model in models]
        error, missing = await call(session, "get_agent", name="nope")
        assert error and missing["status"] == 404 and "nope" in missing["error"]
        error, wrong = await call(session, "get_agent", agent="nope")
        assert error and wrong["error"].startswith('unknown argument "agent"')
        error, context = await call(session, "export_context")
        assert not error and context["meta"]["tools_count"] == 1

    with_mcp(server, scenario)


def test_approve_a_held_call_and_wait_without_raising(server, client):
    upstream = Upstream()
    try:
        client.post("/tools", {"name": "stripe", "spec": {"connection": {"baseUrl": upstream.url}}})
        client.policies.apply({"policies": [
            {"permission": "approval_required", "operations": ["POST"], "resource": upstream.url + "/*"},
        ]}, name="writes-approved")
        client.agents.deploy("billing", source_files={"README.md": "Billing."}, required_tools=["stripe"],
                             policies=["writes-approved"])
        tool_url = client.post("/agents/billing/credentials")["tool_urls"]["TOOL_URL_STRIPE"]
        run_id = client.post("/runs", {"agent_id": "billing", "user_id": "alice@example.com"})["id"]
        status, blocked = agent_call("POST", tool_url + "/v1/charges", run_id, {"amount": 100})
        assert status == 403 and blocked["code"] == "APPROVAL_REQUIRED"

        async def scenario(session):
            error, pending = await call(session, "list_approvals", status="pending")
            assert not error and [(r["agent_id"], r["tool_id"], r["run_id"]) for r in pending] == [("billing", "stripe", run_id)]
            error, run = await call(session, "get_run", run_id=run_id)
            assert not error and run["status"] == "PAUSED_APPROVAL"

            # Still paused: the wait ends as a result that says so, not as an error.
            error, waited = await call(session, "wait_for_run", run_id=run_id, timeout_seconds=1, interval_seconds=1)
            assert not error and waited["timed_out"] is True and waited["status"] == "PAUSED_APPROVAL"
            assert "list_approvals" in waited["message"]

            error, approved = await call(session, "approve_request", request_id=pending[0]["id"], scope="run",
                                         reason="refund ok")
            assert not error and (approved["status"], approved["scope"]) == ("APPROVED", "run")
            error, after = await call(session, "list_approvals", status="PENDING")
            assert (error, after) == (False, [])
            error, again = await call(session, "approve_request", request_id=pending[0]["id"])
            assert error and again["status"] in (400, 409)
            return True

        assert with_mcp(server, scenario)
        # The platform replayed the held call itself.
        for _ in range(200):
            if any(seen[0] == "POST" for seen in upstream.seen):
                break
            asyncio.run(asyncio.sleep(0.025))
        assert [seen[3] for seen in upstream.seen if seen[0] == "POST"] == [b'{"amount": 100}']
    finally:
        upstream.httpd.shutdown()
