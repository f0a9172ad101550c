"""The LLM gateway driven by the real `openai` package: the offline playground model (after
the starter kit) and a fake OpenAI upstream that speaks the real wire format."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

UPSTREAM_KEY = "sk-python-fake-upstream-key-42"


class FakeOpenAI:
    """A small OpenAI Chat Completions server: checks the injected key, records requests."""

    def __init__(self):
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.headers.get("Authorization") != f"Bearer {UPSTREAM_KEY}":
                    return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                last = body["messages"][-1]
                if last["role"] == "tool":
                    message = {"role": "assistant", "content": f"tool said: {last['content']}"}
                elif body.get("tools") and "call" in last["content"]:
                    name = body["tools"][0]["function"]["name"]
                    message = {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_py_1", "type": "function", "function": {"name": name, "arguments": json.dumps({"q": last["content"]})}}]}
                else:
                    message = {"role": "assistant", "content": f"upstream says: {last['content']}"}
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
                head = {"id": "chatcmpl-py", "created": 1_700_000_000, "model": body["model"]}
                if not body.get("stream"):
                    return self._json(200, {**head, "object": "chat.completion",
                                            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

                def send(delta, finish_reason=None, **extra):
                    chunk = {**head, "object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                send({"role": "assistant", "content": ""})
                for word in (message["content"] or "").split(" "):
                    if word:
                        send({"content": word + " "})
                for index, call in enumerate(message.get("tool_calls") or []):
                    send({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}}]})
                send({}, finish)
                if (body.get("stream_options") or {}).get("include_usage"):
                    chunk = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

            def _json(self, status, value):
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture
def upstream():
    fake = FakeOpenAI()
    yield fake
    fake.stop()


ECHO_TOOL = {"type": "function", "function": {"name": "echo-tool__echo", "description": "Echo a message",
             "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}}


def sdk(server, base="/api/v1/v1", **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}{base}", api_key=server.key, max_retries=0, **kwargs)


def test_playground_answers_calls_a_tool_and_streams(client, server):
    client.post("/starter-kit", {})
    llm = sdk(server)
    assert "playground" in [model.id for model in llm.models.list()]

    reply = llm.chat.completions.create(model="playground", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content == "You said: hello"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    messages = [{"role": "user", "content": "echo hi from python"}]
    call = llm.chat.completions.create(model="playground", messages=messages, tools=[ECHO_TOOL])
    tool_call = call.choices[0].message.tool_calls[0]
    assert call.choices[0].finish_reason == "tool_calls"
    assert tool_call.function.name == "echo-tool__echo"
    assert json.loads(tool_call.function.arguments) == {"message": "hi from python"}

    messages += [call.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": tool_call.id, "content": "hi from python"}]
    # The root /v1 base URL works too (what `runagents dev` uses).
    stream = sdk(server, base="/v1").chat.completions.create(model="playground", messages=messages, tools=[ECHO_TOOL], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "The echo-tool__echo tool returned: hi from python"


def test_openai_upstream_json_stream_tools_and_errors(client, server, upstream):
    client.post("/model-providers", {"name": "openai-prod", "spec": {"provider": "openai", "endpoint": f"{upstream.url}/v1",
                                     "models": ["gpt-4o"]}, "credentials": {"api_key": UPSTREAM_KEY}})
    llm = sdk(server)

    reply = llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=0.1)
    assert reply.choices[0].message.content == "upstream says: hi"
    assert reply.usage.prompt_tokens == 7
    path, headers, body = upstream.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert body["temperature"] == 0.1

    stream = llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "stream this"}],
                                         stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == "upstream says: stream this"
    assert chunks[-1].usage.completion_tokens == 5

    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "please call lookup"}]
    call = llm.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    tool_call = call.choices[0].message.tool_calls[0]
    assert (tool_call.id, tool_call.function.name) == ("call_py_1", "lookup")
    messages += [call.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": tool_call.id, "content": "42"}]
    assert llm.chat.completions.create(model="gpt-4o", messages=messages, tools=tools).choices[0].message.content == "tool said: 42"

    with pytest.raises(openai.NotFoundError) as missing:
        llm.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert 'no provider found for model "nope"' in str(missing.value)
    with pytest.raises(openai.BadRequestError) as no_model:
        llm.chat.completions.create(model="", messages=[{"role": "user", "content": "x"}])
    assert "model is required" in str(no_model.value)

    # A provider refusing the key: a 502 naming its status, without the key.
    client.post("/model-providers", {"name": "openai-prod", "spec": {"provider": "openai", "endpoint": f"{upstream.url}/v1",
                                     "models": ["gpt-4o"]}, "credentials": {"api_key": "sk-wrong-python-key"}})
    with pytest.raises(openai.APIStatusError) as refused:
        llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 502
    assert "provider request failed (HTTP 401)" in str(refused.value)
    assert "sk-wrong-python-key" not in str(refused.value.response.text)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="ra_ws_not_a_key", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}])
