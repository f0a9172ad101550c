"""The SDK's model providers, identity providers and approval connectors calls."""

import pytest
from runagents.client import APIError


def test_models_list_reads_object_status(client):
    client.post("/model-providers", {"name": "openai-prod", "spec": {"provider": "openai", "models": ["gpt-4o", "gpt-4o-mini"]},
                                      "credentials": {"api_key": "sk-provider-secret"}})
    client.post("/model-providers", {"name": "local", "provider": "ollama", "endpoint": "http://127.0.0.1:11434", "models": ["llama3"]})
    models = {m.name: m for m in client.models.list()}
    assert models["openai-prod"].provider == "openai"
    assert models["openai-prod"].models == ["gpt-4o", "gpt-4o-mini"]
    assert models["openai-prod"].status == "Available"
    assert models["local"].endpoint == "http://127.0.0.1:11434"
    assert "sk-provider-secret" not in str(client.get("/model-providers"))


def test_identity_providers_apply_is_an_upsert(client):
    document = {"name": "google-oidc", "spec": {"host": "agents.example.com",
                "identityProvider": {"issuer": "https://accounts.google.com", "jwksUri": "https://www.googleapis.com/oauth2/v3/certs", "audiences": ["client-1"]},
                "userIDClaim": "email", "allowedDomains": ["example.com"]}}
    created = client.identity_providers.apply(document)
    assert created.name == "google-oidc"
    assert created.spec.user_id_claim == "email"
    document["spec"]["userIDClaim"] = "sub"
    updated = client.identity_providers.apply(document)
    assert updated.spec.user_id_claim == "sub"
    assert [p.name for p in client.identity_providers.list()] == ["google-oidc"]
    assert client.identity_providers.get("google-oidc").spec.host == "agents.example.com"
    assert client.identity_providers.delete("google-oidc") == {"status": "deleted"}
    with pytest.raises(APIError) as gone:
        client.identity_providers.get("google-oidc")
    assert gone.value.status == 404


def test_approval_connectors_apply_test_defaults_activity(client, server):
    created = client.approval_connectors.apply({"name": "secops-slack", "type": "slack", "endpoint": "C0123456789",
                                                "headers": {"X-Slack-Bot-Token": "xoxb-connector-secret"}, "timeout_seconds": 15})
    assert created.id.startswith("ac_")
    assert created.type == "slack"
    assert created.headers["X-Slack-Bot-Token"] != "xoxb-connector-secret"
    # Apply by name patches the same connector.
    patched = client.approval_connectors.apply({"name": "secops-slack", "timeout_seconds": 30})
    assert patched.id == created.id
    assert patched.timeout_seconds == 30
    assert len(client.approval_connectors.list()) == 1

    result = client.approval_connectors.test(created.id)
    assert result.status in ("healthy", "unhealthy")
    assert result.connector_type == "slack"
    assert {check.id for check in result.checks} >= {"config", "credentials"}

    defaults = client.approval_connectors.defaults_get()
    assert (defaults.default_delivery_mode, defaults.default_timeout_seconds) == ("first_success", 10)
    changed = client.approval_connectors.defaults_set(delivery_mode="all", timeout_seconds=20)
    assert (changed.default_delivery_mode, changed.default_timeout_seconds, changed.default_fallback_to_ui) == ("all", 20, True)
    assert client.approval_connectors.defaults_get().default_delivery_mode == "all"

    activity = client.approval_connectors.activity(limit=50)
    assert activity and all(item.timestamp for item in activity)
    with pytest.raises(APIError) as bad:
        client.approval_connectors.apply({"name": "x", "type": "webhook", "endpoint": "http://insecure.example.com"})
    assert bad.value.status == 400
    assert client.approval_connectors.delete(created.id) == {"status": "deleted"}
    assert "xoxb-connector-secret" not in server.output()


def test_starter_kit_and_context_export(client):
    first = client.seed_starter_kit()
    second = client.seed_starter_kit()
    assert isinstance(first, dict) and isinstance(second, dict)
    assert client.tools.get("echo-tool").name == "echo-tool"
    assert "playground-llm" in [m.name for m in client.models.list()]
    assert [t.name for t in client.tools.list()].count("echo-tool") == 1

    exported = client.export_context()
    assert exported["namespace"] == "default"
    resources = exported["resources"]
    for key in ("agents", "tools", "model_providers", "policies", "identity_providers", "approval_connectors", "approvals", "deploy_drafts"):
        assert isinstance(resources[key], list), key
    assert "echo-tool" in [t["name"] for t in resources["tools"]]
    assert exported["meta"]["tools_count"] == len(resources["tools"])
