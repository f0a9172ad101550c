// An agent's playground: a chat where each message is one invoke, and so one run. The answer
// streams from POST /agents/{name}/invoke/stream (read with fetch: EventSource cannot POST);
// tool calls show inline as cards with their arguments and results; a governed call that needs
// a person shows an approval card linking to the queue and the run, and the chat follows the
// run until it is decided. The conversation (its id and history) is kept for follow-ups while
// the console stays open, also across pages.

import { api, seg } from "../lib/api.js";
import { readFrames } from "../lib/sse.js";
import { h, mount, field, badge, statusBadge, facts } from "../lib/dom.js";
import { shortId, TERMINAL } from "../lib/format.js";

/** Conversations by workspace, key and agent, for as long as the page is open. */
const conversations = new Map();

/** Forgets every conversation (signing out). */
export function forgetConversations() {
  for (const conversation of conversations.values()) conversation.watcher?.();
  conversations.clear();
}

function newConversation(ctx) {
  return {
    id: "",
    /** Earlier turns sent with each message: [{role, content}]. */
    history: [],
    userId: ctx.session.key_name || "",
    log: h("ol", { class: "chat-log", role: "log", "aria-label": "Conversation" }),
    busy: false,
    /** Paused runs the chat follows: run id → their reply. */
    waiting: new Map(),
    watcher: null,
  };
}

function conversationOf(ctx, agentName) {
  const key = `${ctx.session.workspace}\n${ctx.session.key_id}\n${agentName}`;
  if (!conversations.has(key)) conversations.set(key, newConversation(ctx));
  return { key, conversation: conversations.get(key) };
}

/** JSON text pretty-printed; anything else as it is. */
function pretty(text) {
  if (text === undefined || text === null || text === "") return "";
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Keeps the newest message in view inside the conversation's own scroll box. */
function scrollToEnd(log) {
  if (log.isConnected) log.scrollTop = log.scrollHeight;
}

function userMessage(text, userId) {
  return h("li", { class: "msg msg-user", "data-role": "user" },
    h("div", { class: "msg-who" }, "You", userId ? h("span", { class: "muted" }, ` as ${userId}`) : null),
    h("p", { class: "msg-text" }, text));
}

/** An inline card for one tool call: the function, its arguments, then its result. */
function toolCard(name, args) {
  const state = h("span", {}, badge("calling", "info"));
  const result = h("pre", { class: "tool-result" }, "…");
  const el = h("article", { class: "tool-card", "data-tool-call": name, "aria-label": `Tool call ${name}` },
    h("header", {}, h("span", { class: "muted small" }, "Tool call"), h("code", { class: "tool-fn" }, name), state),
    h("dl", { class: "tool-io" },
      h("dt", {}, "Arguments"), h("dd", {}, h("pre", { class: "tool-args" }, pretty(args) || "{}")),
      h("dt", {}, "Result"), h("dd", {}, result)));
  return {
    name,
    el,
    settled: false,
    done(text) {
      this.settled = true;
      result.textContent = pretty(text) || "(empty)";
      mount(state, badge("returned", "ok"));
    },
    held(text) {
      this.settled = true;
      result.textContent = text;
      mount(state, badge("held", "warn"));
    },
  };
}

/** The card of a call that waits for a person: an approval (or a user's consent). */
function pausedCard(frame, runId) {
  const detail = frame.detail || {};
  const consent = frame.type === "consent_required";
  const requestId = detail.request_id || "";
  const runOf = detail.run_id || runId;
  const outcome = h("p", { class: "paused-outcome", role: "status" },
    consent ? "Waiting for the user to authorize the tool." : "Waiting for a decision. The run is paused; approving it resumes the run with this exact call.");
  const el = h("article", { class: ["paused-card", consent ? "consent-card" : "approval-card"], "data-paused": consent ? "consent" : "approval", "data-request": requestId || null },
    h("header", {}, h("strong", {}, consent ? "Consent required" : "Approval required"), " ", statusBadge(consent ? "PAUSED_CONSENT" : "PAUSED_APPROVAL")),
    detail.message ? h("p", {}, detail.message) : null,
    facts([
      ["Tool", detail.tool || frame.tool],
      detail.capability ? ["Capability", detail.capability] : null,
      detail.action_id ? ["Action", shortId(detail.action_id, 16)] : null,
    ]),
    h("div", { class: "actions" },
      consent
        ? h("a", { class: "button", href: "#/consents" }, "Consents queue")
        : h("a", { class: "button primary", href: requestId ? `#/approvals?request=${encodeURIComponent(requestId)}` : "#/approvals" }, "Review in the approvals queue"),
      consent && /^https?:\/\//i.test(detail.authorization_url || "") ? h("a", { class: "button", href: detail.authorization_url, rel: "noopener noreferrer", target: "_blank" }, "Authorization link") : null,
      runOf ? h("a", { class: "button", href: `#/runs/${seg(runOf)}` }, "Open the run") : null),
    outcome);
  return {
    el,
    decided(run) {
      const approved = run.status === "COMPLETED" || run.status === "RUNNING";
      outcome.replaceChildren(run.status === "COMPLETED"
        ? "Decided: the call was made and the run completed."
        : run.status === "FAILED" ? "The run ended without the call (rejected, expired or failed): see the run." : `The run is ${run.status.replace(/_/g, " ").toLowerCase()}.`);
      el.classList.toggle("decided", approved);
    },
  };
}

/** The agent's reply to one message, filled in as the stream arrives. */
function agentReply(agentName) {
  const parts = h("div", { class: "msg-parts" });
  const text = h("p", { class: "msg-text", hidden: true });
  const runLink = h("span", { class: "msg-run" });
  const status = h("span", { class: "msg-status" });
  const meta = h("span", { class: "muted small msg-meta" });
  const typing = h("p", { class: "muted typing", role: "status" }, "Answering…");
  const el = h("li", { class: "msg msg-agent", "data-role": "assistant" },
    h("div", { class: "msg-who" }, agentName),
    parts, text, typing,
    h("div", { class: "msg-foot" }, runLink, status, meta));
  let paused = null;
  return {
    el,
    add(node) {
      parts.append(node);
    },
    text(value) {
      text.hidden = !value;
      text.textContent = value;
    },
    error(message) {
      parts.append(h("p", { class: "form-error", role: "alert" }, message));
    },
    paused(card) {
      paused = card;
      parts.append(card.el);
    },
    run(id, state) {
      if (id && !runLink.firstChild) runLink.append(h("a", { href: `#/runs/${seg(id)}` }, "Run ", shortId(id, 13)));
      if (state) mount(status, statusBadge(state));
    },
    meta(value) {
      meta.textContent = value;
    },
    settled() {
      typing.remove();
    },
    finished(run) {
      this.run(run.id, run.status);
      if (paused) paused.decided(run);
      if (run.final_answer) this.text(run.final_answer);
    },
  };
}

/** Follows the conversation's paused runs until each ends, every 2 s while the page is shown. */
function watch(ctx, conversation) {
  if (conversation.watcher || conversation.waiting.size === 0) return;
  const stop = ctx.poll(async () => {
    for (const [runId, reply] of conversation.waiting) {
      const run = await api.get(`/runs/${seg(runId)}`);
      reply.run(run.id, run.status);
      if (TERMINAL.has(run.status)) {
        conversation.waiting.delete(runId);
        reply.finished(run);
        if (run.final_answer) conversation.history.push({ role: "assistant", content: run.final_answer });
        scrollToEnd(conversation.log);
      }
    }
    if (conversation.waiting.size === 0) {
      stop();
      conversation.watcher = null;
    }
  }, 2000);
  conversation.watcher = stop;
}

/** One turn: the message, its streamed reply, and the run it made. */
async function turn(ctx, agent, conversation, message) {
  const log = conversation.log;
  // The page showing the conversation now (it may be left and opened again meanwhile).
  const ui = { busy: (on) => conversation.ui?.busy(on), status: (text) => conversation.ui?.status(text) };
  conversation.busy = true;
  ui.busy(true);
  log.querySelector(".chat-empty")?.remove();
  log.append(userMessage(message, conversation.userId));
  const reply = agentReply(agent.name);
  log.append(reply.el);
  scrollToEnd(log);
  ui.status(`Sent to ${agent.name}; waiting for its answer.`);
  const body = { message, history: conversation.history.slice(), user_id: conversation.userId };
  if (conversation.id) body.conversation_id = conversation.id;
  let runId = "";
  let answer = "";
  let done = null;
  const calls = [];
  try {
    const response = await api.stream(`/agents/${seg(agent.name)}/invoke/stream`, body);
    runId = response.headers.get("X-Run-ID") || "";
    reply.run(runId, "RUNNING");
    const finished = await readFrames(response, (frame) => {
      switch (frame.type) {
        case "tool_call": {
          const card = toolCard(frame.tool, frame.arguments);
          calls.push(card);
          reply.add(card.el);
          break;
        }
        case "tool_result": {
          let card = calls.find((c) => !c.settled && c.name === frame.tool);
          if (!card) {
            card = toolCard(frame.tool, "");
            reply.add(card.el);
          }
          card.done(frame.result);
          break;
        }
        case "content":
          answer += frame.delta || "";
          reply.text(answer);
          break;
        case "approval_required":
        case "consent_required": {
          const held = [...calls].reverse().find((c) => !c.settled);
          if (held) held.held(frame.type === "consent_required" ? "Not sent: waiting for the user's consent." : "Not sent: held for approval.");
          reply.paused(pausedCard(frame, runId));
          break;
        }
        case "done":
          done = frame;
          break;
        case "error":
          reply.error(frame.message || "The turn failed.");
          break;
        default:
          break;
      }
      scrollToEnd(log);
    });
    if (!finished && !done) reply.error("The answer stopped before it ended (the connection closed). The run goes on: see it for how it ended.");
  } catch (error) {
    runId = runId || error.runId || "";
    if (error.status === 401) {
      conversation.busy = false;
      return;
    }
    reply.error(error.message);
  } finally {
    reply.settled();
  }
  let run = null;
  if (runId) run = await api.get(`/runs/${seg(runId)}`).catch(() => null);
  if (run) {
    conversation.id = run.conversation_id || conversation.id;
    reply.run(run.id, run.status);
  } else if (runId) {
    reply.run(runId, "");
  }
  if (done) reply.meta([done.model, Array.isArray(done.tool_calls_made) && done.tool_calls_made.length ? `${done.tool_calls_made.length} tool call${done.tool_calls_made.length === 1 ? "" : "s"}` : ""].filter(Boolean).join(" · "));
  conversation.history.push({ role: "user", content: message });
  if (answer) conversation.history.push({ role: "assistant", content: answer });
  if (run && !TERMINAL.has(run.status)) {
    conversation.waiting.set(run.id, reply);
    watch(ctx, conversation);
    ui.status(run.status === "PAUSED_APPROVAL" ? "The run is paused until someone decides the blocked call." : `The run is ${run.status.replace(/_/g, " ").toLowerCase()}.`);
  } else {
    ui.status(run ? `The run ${run.status === "COMPLETED" ? "completed" : "ended " + run.status.toLowerCase()}.` : "The message was not accepted.");
  }
  conversation.busy = false;
  ui.busy(false);
  scrollToEnd(log);
}

function notices(agent) {
  const llm = agent.llm_config || {};
  if (agent.spec.executionMode === "NATIVE_LOOP" && !llm.model) {
    return h("div", { class: "banner warn", role: "status" }, "This agent has no model, so it cannot answer: add one on its ",
      h("a", { href: `#/agents/${seg(agent.name)}/config` }, "Configuration"), " tab or deploy it again with a model.");
  }
  if (agent.spec.executionMode === "PYTHON_RUNTIME" && agent.status.phase !== "Running") {
    return h("div", { class: "banner warn", role: "status" }, `Its runtime is not running (${agent.status.phase.toLowerCase()}${agent.status.message ? `: ${agent.status.message}` : ""}). See its build on the `,
      h("a", { href: `#/agents/${seg(agent.name)}` }, "Overview"), " tab.");
  }
  return null;
}

function emptyHint(agent) {
  const playground = (agent.llm_config || {}).model === "playground";
  return h("li", { class: "chat-empty muted" },
    `Each message you send is one run of ${agent.name}, recorded in its Runs tab, with every tool call under its policies. `,
    playground ? ["It uses the offline playground model: start a message with a tool's name to call it (", h("code", {}, "echo hello"), ") or name a function (", h("code", {}, "tool__capability"), ")."] : null);
}

/** The Playground tab of an agent. */
export function playgroundTab(agent, ctx, container) {
  const { key, conversation } = conversationOf(ctx, agent.name);
  // A new page: the previous page's timers are gone.
  conversation.watcher = null;
  if (!conversation.log.children.length) conversation.log.append(emptyHint(agent));

  const statusLine = h("p", { class: "muted small chat-status", role: "status" });
  const input = h("textarea", { rows: "3", placeholder: `Message ${agent.name}`, autocomplete: "off", spellcheck: "true" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const user = h("input", { type: "text", value: conversation.userId, autocomplete: "off", spellcheck: "false" });
  user.addEventListener("input", () => {
    conversation.userId = user.value.trim();
  });
  const conversationNote = h("span", { class: "muted small" });
  const noteConversation = () => {
    if (conversation.id) {
      conversationNote.replaceChildren("Conversation ", shortId(conversation.id, 13), ` · ${conversation.history.length} earlier messages sent along`);
    } else {
      conversationNote.replaceChildren("A new conversation");
    }
  };
  const ui = {
    busy(on) {
      send.disabled = on;
      send.textContent = on ? "Answering…" : "Send";
      noteConversation();
    },
    status(text) {
      statusLine.textContent = text;
    },
  };
  const form = h("form", {
    class: "chat-compose",
    onsubmit: (event) => {
      event.preventDefault();
      const message = input.value.trim();
      if (!message) {
        ui.status("Type a message first.");
        input.focus();
        return;
      }
      if (conversation.busy) return;
      if (!conversation.userId) {
        ui.status("Say which user the agent acts for.");
        user.focus();
        return;
      }
      input.value = "";
      turn(ctx, agent, conversation, message).catch((error) => {
        conversation.busy = false;
        ui.busy(false);
        ui.status(error.message);
      });
      input.focus();
    },
  },
  field("Message", input, "Enter sends; Shift+Enter starts a new line."),
  h("div", { class: "actions" }, send, statusLine));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  ctx.guard(() => input.value.trim() !== "");
  conversation.ui = ui;
  ctx.onLeave(() => {
    if (conversation.ui === ui) conversation.ui = null;
  });

  const restart = h("button", {
    type: "button",
    onclick: () => {
      if (conversation.busy) return;
      if (conversation.watcher) conversation.watcher();
      conversations.set(key, newConversation(ctx));
      mount(container);
      playgroundTab(agent, ctx, container);
    },
  }, "New conversation");

  mount(container,
    notices(agent),
    h("section", { class: "playground", "aria-label": `Playground of ${agent.name}` },
      h("div", { class: "chat-bar" },
        h("div", { class: "chat-user" }, field("Act for user", user, "The run's user_id: whom policies, approvals and consents see.")),
        h("div", { class: "actions" }, conversationNote, restart)),
      conversation.log,
      form));
  ui.busy(conversation.busy);
  watch(ctx, conversation);
  scrollToEnd(conversation.log);
  input.focus({ preventScroll: true });
}
