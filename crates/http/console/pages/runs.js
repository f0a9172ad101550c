// Runs: the list with filters, and a run's page with its event timeline, live while the run
// has not ended (the run's SSE stream), and its audit export.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, facts, copy, loading, errorBox } from "../lib/dom.js";
import { when, shortId, RUN_STATUSES, TERMINAL } from "../lib/format.js";
import { listView } from "../lib/list.js";

/** The columns of a runs table; also used by an agent's Runs tab. */
export function runColumns({ agent = true } = {}) {
  return [
    { key: "id", label: "Run", render: (r) => h("a", { href: `#/runs/${seg(r.id)}` }, shortId(r.id, 13)) },
    { key: "status", label: "Status", render: (r) => statusBadge(r.status) },
    agent ? { key: "agent", label: "Agent", render: (r) => h("a", { href: `#/agents/${seg(r.agent)}` }, r.agent) } : null,
    { key: "user_id", label: "User", render: (r) => r.user_id || "—" },
    { key: "initial_message", label: "Message", render: (r) => h("span", { class: "clip", title: r.initial_message }, r.initial_message || "—") },
    { key: "created_at", label: "Started", render: (r) => when(r.created_at) },
    { key: "updated_at", label: "Updated", render: (r) => when(r.updated_at) },
  ].filter(Boolean);
}

export function runSearch(run) {
  return [run.id, run.agent, run.user_id, run.initial_message, run.final_answer, run.status, run.conversation_id].join(" ");
}

export async function renderList(ctx) {
  const query = { agent: ctx.query.get("agent") || "", status: ctx.query.get("status") || "", user: ctx.query.get("user") || "" };
  const agents = await api.get("/agents").catch(() => []);
  const body = h("div", {});
  // Users seen in any answer so far, so the user filter keeps its choices once narrowed.
  const users = new Set(query.user ? [query.user] : []);
  const fetchRuns = () => {
    const params = new URLSearchParams();
    if (query.agent) params.set("agent_id", query.agent);
    if (query.status) params.set("status", query.status);
    if (query.user) params.set("user_id", query.user);
    return api.get(`/runs${params.toString() ? `?${params}` : ""}`);
  };
  const view = listView({
    label: "Runs",
    columns: runColumns(),
    search: runSearch,
    sort: { key: "created_at", desc: true },
    rowId: (r) => r.id,
    filters: [
      {
        label: "Statuses", initial: query.status,
        options: RUN_STATUSES.map((s) => [s, s.replace(/_/g, " ").toLowerCase()]),
        match: (r, v) => r.status === v,
        onchange: (v) => {
          query.status = v;
          refresh();
        },
      },
      {
        label: "Agents", initial: query.agent,
        options: agents.map((a) => [a.name, a.name]),
        match: (r, v) => r.agent === v,
        onchange: (v) => {
          query.agent = v;
          refresh();
        },
      },
      {
        label: "Users", initial: query.user,
        options: (runs) => {
          for (const run of runs) if (run.user_id) users.add(run.user_id);
          return [...users].sort().map((u) => [u, u]);
        },
        match: (r, v) => r.user_id === v,
        onchange: (v) => {
          query.user = v;
          refresh();
        },
      },
    ],
    empty: () => empty("No runs yet",
      "A run is one conversation turn of an agent with a user: its messages, tool calls, approvals and final answer. Every invoke makes one: from an agent's playground, the API, the SDK or the CLI.",
      h("a", { class: "button", href: "#/agents" }, "Agents")),
  });
  const update = (runs) => view.update(runs, { narrowed: Boolean(query.agent || query.status || query.user) });
  async function refresh() {
    try {
      update(await fetchRuns());
    } catch (error) {
      ctx.toast(error.message, "bad");
    }
  }
  mount(ctx.root, pageHeader("Runs", "Every run of every agent: what it was asked, what it did, who approved what, and how it ended."), body);
  await ctx.load(body, fetchRuns, (runs) => {
    body.append(view.el);
    update(runs);
  });
  ctx.poll(refresh, 5000);
}

const EVENT_TEXT = {
  RUN_CREATED: (d) => `Run created for ${d.user_id || "no user"}`,
  USER_MESSAGE: (d) => d.message,
  AGENT_MESSAGE: (d) => d.message || d.content,
  APPROVAL_REQUIRED: (d) => `Blocked for approval: ${d.tool_method || ""} ${d.tool_url || d.tool || ""}`,
  APPROVED: (d) => `Approved by ${d.approver_id || "someone"} (${d.scope === "agent_user_ttl" ? `window ${d.duration}` : d.scope || "once"})${d.reason ? `: ${d.reason}` : ""}`,
  REJECTED: (d) => `Rejected by ${d.approver_id || "someone"}${d.reason ? `: ${d.reason}` : ""}`,
  TOOL_CALLED: (d) => `${d.tool_method || ""} ${d.tool_url || d.tool || ""} → ${d.status_code ?? d.code ?? "?"}${d.latency_ms !== undefined ? ` in ${d.latency_ms} ms` : ""}`,
  TOOL_REQUEST: (d) => `${d.method || d.tool_method || ""} ${d.url || d.tool_url || d.tool || ""}`,
  TOOL_RESPONSE: (d) => `${d.tool || ""} answered ${d.status_code ?? ""}`,
  CONSENT_REQUIRED: (d) => `Waiting for the user's consent${d.tool ? ` to ${d.tool}` : ""}`,
  INVOKE_REQUESTED: (d) => `Invoked${d.history && d.history.length ? `, with ${d.history.length} earlier messages of the conversation` : ""}`,
  INVOKE_COMPLETED: (d) => `${d.model || "The model"} answered after ${d.tool_calls ?? 0} tool call${d.tool_calls === 1 ? "" : "s"}${d.duration_ms !== undefined ? ` in ${d.duration_ms} ms` : ""}`,
  INVOKE_FAILED: (d) => d.error ? `The turn failed: ${d.error}` : "The turn failed",
  RESUMED: () => "Resumed",
  COMPLETED: (d) => d.final_answer ? `Completed: ${d.final_answer}` : "Completed",
  FAILED: (d) => d.error ? `Failed: ${d.error}` : "Failed",
};

function eventItem(event) {
  const data = event.data || {};
  const describe = EVENT_TEXT[event.type];
  const text = describe ? describe(data) : "";
  return h("li", { class: ["event", `event-${event.type.toLowerCase()}`], "data-seq": event.seq },
    h("div", { class: "event-head" },
      h("span", { class: "seq", "aria-label": `Event ${event.seq}` }, `#${event.seq}`),
      statusBadge(event.type),
      h("span", { class: "muted" }, event.actor),
      when(event.timestamp)),
    text ? h("p", { class: "event-text" }, text) : null,
    event.payload_hash ? h("p", { class: "muted small" }, "payload hash ", h("code", { title: event.payload_hash }, event.payload_hash)) : null,
    Object.keys(data).length ? h("details", {}, h("summary", {}, "Details"), h("pre", {}, JSON.stringify(data, null, 2))) : null);
}

function runHeader(run, ctx, pending) {
  const banner = run.status === "PAUSED_APPROVAL"
    ? h("div", { class: "banner warn", role: "status" },
      "Paused until someone approves the blocked action. ",
      pending ? h("a", { href: "#/approvals" }, `Review ${pending.tool_method} ${pending.tool} in the approvals queue`) : h("a", { href: "#/approvals" }, "Approvals queue"))
    : run.status === "PAUSED_CONSENT"
      ? h("div", { class: "banner warn", role: "status" }, `Paused until ${run.user_id || "the user"} authorizes the tool (OAuth consent). `, h("a", { href: "#/consents" }, "Consents queue"))
      : null;
  return h("div", {},
    banner,
    facts([
      ["Status", statusBadge(run.status)],
      ["Agent", h("a", { href: `#/agents/${seg(run.agent)}` }, run.agent)],
      ["User", run.user_id ? h("a", { href: `#/runs?user=${encodeURIComponent(run.user_id)}`, title: `Runs of ${run.user_id}` }, run.user_id) : "—"],
      ["Conversation", run.conversation_id ? shortId(run.conversation_id, 13) : "—"],
      ["Started", when(run.created_at)],
      ["Updated", when(run.updated_at)],
      ["First message", run.initial_message],
    ]),
    run.final_answer ? h("section", { class: "panel answer", "aria-labelledby": "final-title" }, h("h2", { id: "final-title" }, "Final answer"), h("p", {}, run.final_answer)) : null);
}

function blockedPanel(action) {
  if (!action) return null;
  return h("section", { class: "panel", "aria-labelledby": "blocked-title" },
    h("h2", { id: "blocked-title" }, "Blocked action"),
    facts([
      ["Action", shortId(action.id, 16)],
      ["Tool", action.tool_id],
      ["Capability", action.capability],
      ["Status", statusBadge(action.status)],
      ["Payload hash", h("code", { class: "wrap" }, action.payload_hash)],
      ["Since", when(action.created_at)],
    ]));
}

export async function renderRun(ctx) {
  const id = ctx.params.id;
  const header = h("div", {});
  const blocked = h("div", {});
  const timeline = h("ol", { class: "timeline", "aria-label": "Events" });
  const liveNote = h("p", { class: "muted live", "aria-live": "polite" });
  let run = null;
  let lastSeq = 0;
  let source = null;
  mount(ctx.root, loading());
  try {
    run = await api.get(`/runs/${seg(id)}`);
  } catch (error) {
    mount(ctx.root, pageHeader("Run"), errorBox(error, () => renderRun(ctx)));
    return;
  }
  const exportLink = h("a", { class: "button", href: `/api/v1/runs/${seg(id)}/events?format=ndjson`, download: `run-${id}.ndjson` }, "Export NDJSON");
  mount(ctx.root,
    pageHeader(`Run ${id.slice(0, 13)}`, null,
      h("button", { type: "button", onclick: async () => { await copy(id); ctx.toast("Run id copied"); } }, "Copy id"),
      exportLink),
    header, blocked,
    h("section", { class: "panel", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), liveNote, timeline));

  const addEvents = (events) => {
    for (const event of events) {
      if (event.seq <= lastSeq) continue;
      lastSeq = event.seq;
      timeline.append(eventItem(event));
    }
    if (lastSeq === 0 && !timeline.children.length) timeline.append(h("li", { class: "muted" }, "No events yet."));
  };
  const drawHeader = async () => {
    let pending = null;
    let action = null;
    if (run.status === "PAUSED_APPROVAL") {
      const requests = await api.get("/approvals/requests").catch(() => []);
      pending = requests.find((r) => r.run_id === id) || null;
    }
    if (run.blocked_action_id) {
      action = await api.get(`/runs/${seg(id)}/actions/${seg(run.blocked_action_id)}`).catch(() => null);
    }
    mount(header, runHeader(run, ctx, pending));
    mount(blocked, blockedPanel(action));
    liveNote.textContent = TERMINAL.has(run.status) ? "" : "Live: new events appear as they happen.";
  };
  await drawHeader();
  addEvents(await api.get(`/runs/${seg(id)}/events`));

  const refreshRun = async () => {
    const next = await api.get(`/runs/${seg(id)}`);
    const changed = next.status !== run.status || next.updated_at !== run.updated_at;
    run = next;
    if (changed) await drawHeader();
  };
  if (!TERMINAL.has(run.status) && "EventSource" in window) {
    source = new EventSource(`/api/v1/runs/${seg(id)}/stream?after_seq=${lastSeq}`);
    source.addEventListener("run_event", (message) => {
      addEvents([JSON.parse(message.data)]);
      refreshRun().catch(() => {});
    });
    source.addEventListener("done", (message) => {
      run = JSON.parse(message.data);
      drawHeader();
      source.close();
    });
    ctx.onLeave(() => source.close());
  }
  // Status changes without events (and a dropped stream) are caught by polling too.
  ctx.poll(async () => {
    if (TERMINAL.has(run.status)) return;
    await refreshRun();
    if (!source || source.readyState === EventSource.CLOSED) {
      addEvents(await api.get(`/runs/${seg(id)}/events?after_seq=${lastSeq}`));
    }
  }, 3000);
}
