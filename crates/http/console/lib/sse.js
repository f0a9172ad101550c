// Server-sent events over fetch: EventSource cannot POST, and invoking an agent is a POST. The
// parser takes text as it arrives, in chunks cut anywhere, and hands over each event's data.

/** A parser: `push(text)` as chunks arrive, `end()` at the end; `onData(data)` per event. */
export function sseParser(onData) {
  let buffer = "";
  let data = [];
  const line = (raw) => {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (text === "") {
      if (data.length) {
        const payload = data.join("\n");
        data = [];
        onData(payload);
      }
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
  };
  return {
    push(chunk) {
      buffer += chunk;
      let at;
      while ((at = buffer.indexOf("\n")) >= 0) {
        line(buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
      }
    },
    end() {
      if (buffer) line(buffer);
      buffer = "";
      line("");
    },
  };
}

/**
 * Reads a `text/event-stream` response to its end, calling `onFrame` with each event's JSON
 * (data that is not JSON is skipped). Stops at `[DONE]`. Resolves true when `[DONE]` came.
 */
export async function readFrames(response, onFrame) {
  let done = false;
  const parser = sseParser((data) => {
    if (done) return;
    if (data === "[DONE]") {
      done = true;
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    onFrame(frame);
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    if (!done) {
      parser.push(decoder.decode());
      parser.end();
    }
  } finally {
    if (done) reader.cancel().catch(() => {});
  }
  return done;
}
