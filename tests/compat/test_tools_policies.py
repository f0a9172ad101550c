"""The SDK's tools and policies calls against our server."""

import pytest
from runagents.client import APIError


def test_tools_create_list_get(client, server):
    created = client.tools.create("stripe-api", "https://api.stripe.com", description="Stripe", auth_type="APIKey")
    assert isinstance(created, dict) and "error" not in created
    assert created["name"] == "stripe-api"
    client.tools.create("local", "http://127.0.0.1:9000")

    tools = {tool.name: tool for tool in client.tools.list()}
    assert set(tools) == {"stripe-api", "local"}
    stripe = client.tools.get("stripe-api")
    assert stripe.name == "stripe-api"
    assert stripe.base_url == "https://api.stripe.com"
    assert stripe.auth_type == "APIKey"
    assert stripe.description == "Stripe"
    assert tools["local"].base_url == "http://127.0.0.1:9000"

    # Creating again is an update, never an error.
    again = client.tools.create("stripe-api", "https://api.stripe.com", description="Stripe v2")
    assert again["spec"]["description"] == "Stripe v2"
    assert client.tools.get("stripe-api").description == "Stripe v2"


def test_tool_errors_surface_as_api_errors(client):
    with pytest.raises(APIError) as missing:
        client.tools.get("nope")
    assert missing.value.status == 404
    assert missing.value.detail == {"error": 'tool "nope" not found'}
    with pytest.raises(APIError) as bad:
        client.tools.create("Bad Name", "https://x.example")
    assert bad.value.status == 400
    assert "invalid name" in bad.value.detail["error"]


def test_policies_apply_creates_then_updates(client):
    document = {
        "apiVersion": "platform.ai/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "stripe-writes"},
        "spec": {
            "policies": [
                {"permission": "allow", "operations": ["GET"], "resource": "https://api.stripe.com/*"},
                {"permission": "approval_required", "operations": ["POST"], "resource": "https://api.stripe.com/v1/*", "tags": ["financial"]},
            ],
            "approvals": [
                {
                    "name": "finance",
                    "toolIds": ["stripe-api"],
                    "approvers": {"groups": ["finance"], "match": "any"},
                    "defaultDuration": "4h",
                    "delivery": {"connectors": ["secops-slack"], "mode": "first_success", "fallbackToUI": True},
                }
            ],
        },
    }
    created = client.policies.apply(document, name="stripe-writes")
    assert created.name == "stripe-writes"
    assert [rule.permission for rule in created.spec.policies] == ["allow", "approval_required"]
    assert created.spec.approvals[0].approvers.groups == ["finance"]
    assert created.status.ready is True

    # A bare spec (no "spec" key) is applied as the whole spec; apply now takes the PUT path.
    updated = client.policies.apply({"policies": [{"permission": "deny", "resource": "*"}]}, name="stripe-writes")
    assert [rule.permission for rule in updated.spec.policies] == ["deny"]
    assert [p.name for p in client.policies.list()] == ["stripe-writes"]
    assert client.policies.get("stripe-writes").spec.policies[0].permission == "deny"

    assert client.policies.delete("stripe-writes") == {"status": "deleted"}
    with pytest.raises(APIError) as gone:
        client.policies.get("stripe-writes")
    assert gone.value.status == 404


def test_invalid_policy_is_rejected(client):
    with pytest.raises(APIError) as bad:
        client.policies.apply({"policies": [{"permission": "sometimes"}]}, name="p")
    assert bad.value.status == 400
    assert client.policies.list() == []


def test_workspace_urls_and_isolation(server, client):
    created = client.post("/workspaces", {"name": "revops"})
    team = server.client(key=created["token"], workspace="revops")
    assert team.endpoint.endswith("/api/v1/workspaces/revops")
    team.tools.create("crm", "https://crm.example.com")
    assert [t.name for t in team.tools.list()] == ["crm"]
    assert client.tools.list() == []
    with pytest.raises(APIError) as other:
        server.client(workspace="revops").tools.list()
    assert other.value.status == 404


def test_missing_key_is_401(server):
    with pytest.raises(APIError) as denied:
        server.client(key="").tools.list()
    assert denied.value.status == 401
    assert denied.value.detail == {"error": "Missing or invalid API key"}


def test_policies_translate(client):
    rules = client.policies.translate("Allow Google Workspace reads and require approval for writes")
    assert [rule.permission for rule in rules] == ["allow", "approval_required"]
    assert "GET" in rules[0].operations and "POST" in rules[1].operations
