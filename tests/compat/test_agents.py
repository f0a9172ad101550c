"""The SDK's agent, deploy, config and model-spend calls against our server."""

import pytest
from runagents.client import APIError

HANDLER = '''
from runagents import Agent

agent = Agent()

def handler(request, context):
    return {"response": "hello " + request.get("message", "")}
'''


def _names(tools):
    return [t["name"] if isinstance(t, dict) else t for t in tools]


def test_deploy_list_get_config(client):
    client.policies.apply({"policies": [{"permission": "allow", "resource": "*"}]}, name="allow-all")
    result = client.agents.deploy(
        "billing-agent",
        source_files={"agent.py": HANDLER},
        system_prompt="You help with billing.",
        tools_to_create=[{"name": "billing-api", "base_url": "https://billing.example.com", "description": "Billing", "auth_type": "None"}],
        required_tools=["billing-api"],
        llm_configs=[{"provider": "openai", "model": "gpt-4o-mini", "role": "default"}],
        env=[{"name": "FEATURE_FLAG", "value": "on"}],
        policies=["allow-all"],
        entry_point="agent.py",
    )
    assert result.agent_name == "billing-agent"
    assert result.tools_created == ["billing-api"]
    assert result.execution_mode
    assert isinstance(result.build_required, bool)
    assert client.tools.get("billing-api").base_url == "https://billing.example.com"

    agents = client.agents.list()
    assert [a.name for a in agents] == ["billing-agent"]
    agent = client.agents.get("billing-agent")
    assert agent.status in ("Pending", "Running", "Failed")
    assert agent.system_prompt == "You help with billing."
    assert _names(agent.required_tools) == ["billing-api"]

    config = client.agents.get_config("billing-agent")
    assert config.agent_name == "billing-agent"
    assert config.policies == ["allow-all"]
    assert config.required_tools == ["billing-api"]
    assert [(c.provider, c.model) for c in config.llm_configs] == [("openai", "gpt-4o-mini")]
    assert [p.name for p in client.policies.get("allow-all").used_by] == ["billing-agent"]

    updated = client.agents.update_config(
        "billing-agent",
        system_prompt="Be brief.",
        llm_configs=[{"role": "default", "provider": "openai", "model": "gpt-4o-mini", "monthly_budget_usd": 25}],
    )
    assert updated.system_prompt == "Be brief."
    assert updated.llm_configs[0].monthly_budget_usd == 25
    assert updated.model_usage[0].status == "Active"

    spend = client.model_spend.get()
    assert spend.summary.total_budget_usd == 25
    assert spend.summary.budgeted_model_count == 1
    assert spend.summary.period_start and spend.summary.period_end

    # Redeploying updates in place.
    client.agents.deploy("billing-agent", source_files={"agent.py": HANDLER}, system_prompt="v2")
    assert client.agents.get("billing-agent").system_prompt == "v2"
    assert len(client.agents.list()) == 1


def test_deploy_errors(client):
    with pytest.raises(APIError) as missing_policy:
        client.agents.deploy("a1", source_files={"agent.py": HANDLER}, policies=["nope"])
    assert missing_policy.value.status == 400
    assert "nope" in missing_policy.value.detail["error"]
    with pytest.raises(APIError) as image:
        client.agents.deploy("a2", image="ghcr.io/acme/agent:1")
    assert image.value.status == 400
    assert client.agents.list() == []
    with pytest.raises(APIError) as unknown:
        client.agents.get("ghost")
    assert unknown.value.status == 404
    with pytest.raises(APIError) as unknown_config:
        client.agents.update_config("ghost", system_prompt="x")
    assert unknown_config.value.status == 404


def test_delete_agent_unbinds_policy(client):
    client.policies.apply({"policies": [{"permission": "allow", "resource": "*"}]}, name="p")
    client.agents.deploy("a", source_files={"agent.py": HANDLER}, policies=["p"])
    with pytest.raises(APIError) as in_use:
        client.policies.delete("p")
    assert in_use.value.status == 409
    client.delete("/agents/a")
    assert client.policies.delete("p") == {"status": "deleted"}
