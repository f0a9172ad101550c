"""{{name}}: a RunAgents agent.

The runtime (`runagents==1.4.2`) calls `handler(request, ctx)` once per request:

- `request` is a dict: "message" (the user's text), "history" ([{role, content}]), and
  "run_id" / "user_id" when the platform runs the agent.
- `ctx` is the runtime's RunContext: `ctx.llm_url` (the LLM gateway's base URL, without
  /chat/completions), `ctx.model`, `ctx.system_prompt`, `ctx.tools` ({name: url}) and
  `ctx.session`. It has no chat or call_tool method.

Run it with `runagents dev`, then: curl -s localhost:8080/invoke -d '{"message": "hello"}'
"""

import json
import os
import urllib.request
{{tool_example}}

def chat(ctx, messages):
    """One Chat Completions call to the LLM gateway; returns the reply's text."""
    url = ctx.llm_url.rstrip("/")
    if not url.endswith("/chat/completions"):
        url += "/chat/completions"
    headers = {"Content-Type": "application/json"}
    # Set by `runagents dev` when the gateway it points at wants a key; on the platform the
    # gateway URL itself identifies the agent.
    key = os.environ.get("LLM_API_KEY")
    if key:
        headers["Authorization"] = "Bearer " + key
    body = json.dumps({"model": ctx.model, "messages": messages}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    return answer["choices"][0]["message"].get("content") or ""


def handler(request, ctx):
    messages = [{"role": "system", "content": ctx.system_prompt}]
    for turn in request.get("history") or []:
        if isinstance(turn, dict) and turn.get("role") and turn.get("content"):
            messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": request["message"]})
    return {"response": chat(ctx, messages)}
