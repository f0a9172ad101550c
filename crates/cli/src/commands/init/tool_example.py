
# Calling a tool ({{tool}} is listed in runagents.yaml). The platform checks every call
# against the agent's policies, injects the tool's credentials, and may hold a write for a
# human's approval:
#
#     from runagents import Agent
#
#     result = Agent().call_tool("{{tool}}", "/path", {"key": "value"}, method="POST")
#
# `result` is the tool's JSON answer ({"raw": text} if it is not JSON), or
# {"error": "HTTP <code>", "detail": ...} when the call fails. The tool's base URL is also
# ctx.tools["{{tool}}"] (env TOOL_URL_{{TOOL_ENV}}) for calls made with urllib or requests.
