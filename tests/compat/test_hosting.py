"""Hello world, offline, through the public SDK: after the starter kit, a Tier-1 agent (the
platform's native loop) and a Tier-2 handler agent (the public runtime, `Agent().call_tool`)
deploy, reach Running, and their invokes complete with the full event timeline."""

import time

import runagents

HANDLER = '''from runagents import Agent

agent = Agent()

def handler(request, ctx):
    result = agent.call_tool("echo-tool", "/echo", {"message": request["message"]})
    return {"response": "echo-tool says " + result["reply"]}
'''

TIMELINE_START = ["RUN_CREATED", "USER_MESSAGE", "INVOKE_REQUESTED"]
TIMELINE_END = ["INVOKE_COMPLETED", "AGENT_MESSAGE", "COMPLETED"]


def wait_running(client: runagents.Client, name: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    agent = client.agents.get(name)
    while agent.status != "Running" and time.monotonic() < deadline:
        time.sleep(0.2)
        agent = client.agents.get(name)
    assert agent.status == "Running", agent
    return agent


def check_timeline(client: runagents.Client, run_id: str, tool_events):
    run = client.runs.wait(run_id, timeout_seconds=30, interval_seconds=1)
    assert run.status == "COMPLETED", run
    types = [event.type for event in client.runs.events(run_id)]
    assert types[:3] == TIMELINE_START, types
    assert types[-3:] == TIMELINE_END, types
    for kind in tool_events:
        assert kind in types, types
    timeline = client.runs.timeline(run_id)
    assert timeline, "the SDK builds a timeline from the run and its events"


def test_hello_world_both_tiers_offline(hosting_server):
    client = hosting_server.client()
    client.seed_starter_kit()
    deployed = client.agents.deploy(
        name="hello-native",
        source_files={"README.md": "Tier 1: no code"},
        required_tools=["echo-tool"],
        llm_configs=[{"provider": "playground", "model": "playground", "role": "default"}],
        policies=["echo-tool-allow"],
    )
    assert deployed.execution_mode == "NATIVE_LOOP"
    wait_running(client, "hello-native")
    answer = client.post("/agents/hello-native/invoke", {"message": "echo hello from tier one"})
    assert "hello from tier one" in answer["response"], answer
    check_timeline(client, answer["run_id"], ["TOOL_REQUEST", "TOOL_RESPONSE"])

    deployed = client.agents.deploy(
        name="hello-handler",
        source_files={"agent.py": HANDLER},
        required_tools=["echo-tool"],
        policies=["echo-tool-allow"],
    )
    assert deployed.execution_mode == "PYTHON_RUNTIME"
    assert deployed.build_id.startswith("build-")
    wait_running(client, "hello-handler")
    answer = client.post("/agents/hello-handler/invoke", {"message": "hello from tier two"})
    assert answer["response"] == "echo-tool says hello from tier two", answer
    check_timeline(client, answer["run_id"], ["TOOL_REQUEST", "TOOL_RESPONSE", "TOOL_RESULT"])
