// The two queues, kept apart: approvals (an operator decides a blocked action) and consents
// (a run waits for its user's OAuth authorization, which no operator can give for them).

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, facts, copy, uid, field, formError, loading, errorBox } from "../lib/dom.js";
import { when, shortId, plural } from "../lib/format.js";

const SCOPES = [
  ["once", "Once", "Only this exact action (same method, URL and payload)."],
  ["run", "This run", "Matching actions of this tool for the rest of this run."],
  ["window", "Window", "This tool for this agent and user, for a limited time."],
];

function hashView(hash) {
  if (!hash) return "—";
  return h("span", { class: "hash" },
    h("code", { title: hash }, `${hash.slice(0, 12)}…`),
    h("button", { type: "button", class: "link small", "aria-label": "Copy payload hash", onclick: async () => { await copy(hash); } }, "Copy"));
}

function decisionForm(request, ctx, done) {
  const name = uid("scope");
  const durationInput = h("input", {
    type: "text", value: request.routing?.defaultDuration || request.duration || "4h",
    pattern: "^([0-9]+[dhms])+$", size: "6", "aria-label": "Window duration", disabled: true,
  });
  const radios = SCOPES.map(([value, label, hint]) => {
    const id = uid("scope");
    const input = h("input", {
      type: "radio", name, id, value, checked: value === "once",
      onchange: () => {
        durationInput.disabled = value !== "window";
        if (value === "window") durationInput.focus();
      },
    });
    return h("div", { class: "radio" }, input, h("label", { for: id }, h("strong", {}, label), " ", h("span", { class: "muted" }, hint)),
      value === "window" ? h("span", { class: "duration" }, durationInput, h("span", { class: "muted" }, "e.g. 30m, 4h, 1d")) : null);
  });
  const reason = h("textarea", { rows: "2", maxlength: "2000", placeholder: "Optional; recorded with the decision" });
  const error = h("div", {});
  const approve = h("button", { type: "submit", class: "primary" }, "Approve");
  const reject = h("button", { type: "button", class: "danger" }, "Reject");
  const busy = (on) => {
    approve.disabled = on;
    reject.disabled = on;
  };
  const send = async (verb, body) => {
    error.replaceChildren();
    busy(true);
    try {
      const decided = await api.post(`/approvals/requests/${seg(request.id)}/${verb}`, body);
      ctx.toast(verb === "approve" ? `Approved (${decided.scope}); the run resumes` : "Rejected");
      done(decided);
    } catch (failure) {
      error.replaceChildren(formError(failure.message));
      busy(false);
    }
  };
  reject.addEventListener("click", () => send("reject", { reason: reason.value.trim() }));
  return h("form", {
    class: "decision",
    onsubmit: (event) => {
      event.preventDefault();
      const scope = new FormData(event.target).get(name) || "once";
      const body = { scope, reason: reason.value.trim() };
      if (scope === "window") body.duration = durationInput.value.trim();
      send("approve", body);
    },
  },
  h("fieldset", {}, h("legend", {}, "Approve for"), radios),
  field("Reason", reason),
  error,
  h("div", { class: "actions" }, approve, reject));
}

function requestCard(request, ctx, onDecided) {
  const card = h("article", { class: "card request", "data-request": request.id, "aria-labelledby": `req-${request.id}` },
    h("header", {},
      h("h2", { id: `req-${request.id}` }, `${request.tool_method} ${request.tool}`, request.capability ? h("span", { class: "muted" }, ` · ${request.capability}`) : null),
      h("span", { class: "muted" }, "raised ", when(request.created_at))),
    request.message ? h("p", {}, request.message) : null,
    facts([
      ["Agent", h("a", { href: `#/agents/${seg(request.agent)}` }, request.agent)],
      ["Tool", h("a", { href: `#/tools/${seg(request.tool)}` }, request.tool)],
      ["Capability", request.capability],
      ["Call", h("code", { class: "wrap" }, `${request.tool_method} ${request.tool_url}`)],
      ["User", request.subject],
      ["Run", request.run_id ? h("a", { href: `#/runs/${seg(request.run_id)}` }, shortId(request.run_id)) : "—"],
      ["Payload hash", hashView(request.payload_hash)],
      ["Expires", request.expires_at ? when(request.expires_at) : "when decided"],
      request.routing?.delivery?.connectors?.length ? ["Sent to", request.routing.delivery.connectors.join(", ")] : null,
    ]));
  card.append(decisionForm(request, ctx, (decided) => onDecided(card, decided)));
  return card;
}

export async function renderApprovals(ctx) {
  const list = h("div", { class: "queue" });
  const summary = h("p", { class: "list-summary", "aria-live": "polite" });
  const searchId = uid("search");
  const search = h("input", { id: searchId, type: "search", placeholder: "Search agent, tool, user, URL…", autocomplete: "off" });
  const agentId = uid("agent");
  const agentFilter = h("select", { id: agentId }, h("option", { value: "" }, "All agents"));
  const sortId = uid("sort");
  const sort = h("select", { id: sortId }, h("option", { value: "old" }, "Oldest first"), h("option", { value: "new" }, "Newest first"));
  const history = h("section", { class: "panel", "aria-labelledby": "recent-title" });
  const cards = new Map();
  let requests = [];

  mount(ctx.root,
    pageHeader("Approvals", "Actions an agent was not allowed to take without a person. The run is paused until you decide; approving resumes it with the exact call."),
    h("div", { class: "list-tools" },
      h("div", { class: "field inline" }, h("label", { for: searchId, class: "sr-only" }, "Search requests"), search),
      h("div", { class: "field inline" }, h("label", { for: agentId, class: "sr-only" }, "Agent"), agentFilter),
      h("div", { class: "field inline" }, h("label", { for: sortId, class: "sr-only" }, "Order"), sort)),
    summary, list, history);

  const arrange = () => {
    const query = search.value.trim().toLowerCase();
    const agent = agentFilter.value;
    const ordered = [...requests].sort((a, b) => (sort.value === "new" ? -1 : 1) * a.created_at.localeCompare(b.created_at));
    let shown = 0;
    for (const request of ordered) {
      const card = cards.get(request.id);
      if (!card) continue;
      const text = [request.agent, request.tool, request.capability, request.subject, request.tool_url, request.run_id].join(" ").toLowerCase();
      const visible = (!query || text.includes(query)) && (!agent || request.agent === agent);
      card.hidden = !visible;
      if (visible) shown += 1;
      list.append(card);
    }
    if (requests.length === 0) {
      summary.textContent = "";
      if (!list.querySelector(".state")) {
        mount(list, empty("No pending approvals", "When a policy says approval_required, the blocked action appears here with its agent, tool, user and payload hash. Consents (users authorizing OAuth tools) are in their own queue.",
          h("a", { class: "button", href: "#/consents" }, "Consents queue"),
          h("a", { class: "button", href: "#/policies" }, "Policies")));
      }
    } else {
      const stale = list.querySelector(".state");
      if (stale) stale.remove();
      summary.textContent = shown === requests.length ? `${plural(requests.length, "request")} pending` : `${shown} of ${requests.length} pending requests match`;
    }
  };

  const decided = (card, request) => {
    cards.delete(request.id);
    requests = requests.filter((r) => r.id !== request.id);
    card.remove();
    arrange();
    ctx.refreshBadges();
    refreshHistory();
  };

  const apply = (pending) => {
    // The server leaves out stale requests (raised in runs of agents since deleted).
    requests = pending;
    const ids = new Set(requests.map((r) => r.id));
    for (const [id, card] of cards) {
      if (!ids.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
    for (const request of requests) {
      if (!cards.has(request.id)) cards.set(request.id, requestCard(request, ctx, decided));
    }
    const names = [...new Set(requests.map((r) => r.agent))].sort();
    const chosen = agentFilter.value;
    mount(agentFilter, h("option", { value: "" }, "All agents"), names.map((n) => h("option", { value: n }, n)));
    agentFilter.value = names.includes(chosen) ? chosen : "";
    arrange();
  };

  async function refreshHistory() {
    try {
      const all = await api.get("/approvals/requests?status=ALL");
      const recent = all.filter((r) => r.status !== "PENDING").sort((a, b) => b.updated_at.localeCompare(a.updated_at)).slice(0, 10);
      mount(history, h("h2", { id: "recent-title" }, "Recent decisions"),
        recent.length === 0 ? h("p", { class: "muted" }, "Nothing decided yet.") : h("ul", { class: "rows" }, recent.map((r) => h("li", {},
          h("div", {}, statusBadge(r.status), " ", h("strong", {}, `${r.tool_method} ${r.tool}`), " ", h("span", { class: "muted" }, `${r.agent} · ${r.subject || "no user"}`)),
          h("div", { class: "row-end" },
            r.approver_id ? h("span", {}, `by ${r.approver_id}`) : null,
            r.channel ? h("span", { class: "muted" }, `via ${r.channel}`) : null,
            r.scope ? h("span", { class: "muted" }, r.scope === "agent_user_ttl" ? `window ${r.duration}` : r.scope) : null,
            when(r.updated_at),
            r.run_id ? h("a", { href: `#/runs/${seg(r.run_id)}` }, "Run") : null)))));
    } catch {
      mount(history, h("h2", { id: "recent-title" }, "Recent decisions"), h("p", { class: "muted" }, "Could not load recent decisions."));
    }
  }

  for (const control of [search, agentFilter, sort]) control.addEventListener("input", arrange);
  const fetchQueue = () => api.get("/approvals/requests");
  await ctx.load(list, fetchQueue, (pending) => {
    apply(pending);
    // From a link to one request (the playground's approval card): show it.
    const wanted = ctx.query.get("request");
    const card = wanted && cards.get(wanted);
    if (card) {
      card.classList.add("highlight");
      card.scrollIntoView({ block: "center" });
      card.querySelector("input[type=radio]")?.focus({ preventScroll: true });
    } else if (wanted) {
      summary.append(" The linked request is no longer pending: see the recent decisions below.");
    }
  });
  refreshHistory();
  ctx.poll(async () => apply(await fetchQueue()), 4000);
}

export async function renderConsents(ctx) {
  const body = h("div", {});
  mount(ctx.root,
    pageHeader("Consents", "Runs waiting for their user to authorize an OAuth tool. Only the user can grant consent; the run resumes on its own once they do."),
    body);
  const draw = (runs) => {
    if (runs.length === 0) {
      mount(body, empty("No runs are waiting for consent",
        "A run pauses here (status PAUSED_CONSENT) when it calls a delegated-user OAuth tool, such as Google Workspace, on behalf of a user who has not authorized it yet. This is different from an approval: an operator cannot consent for a user.",
        h("a", { class: "button", href: "#/approvals" }, "Approvals queue")));
      return;
    }
    mount(body, h("ul", { class: "rows cards" }, runs.map((run) => h("li", { class: "card", "data-consent": run.id },
      h("div", {}, h("a", { href: `#/runs/${seg(run.id)}` }, shortId(run.id, 12)), " ", statusBadge(run.status)),
      facts([["Agent", h("a", { href: `#/agents/${seg(run.agent)}` }, run.agent)], ["User", run.user_id], ["Waiting since", when(run.updated_at)], ["Message", run.initial_message]])))));
  };
  mount(body, loading());
  try {
    draw(await api.get("/runs?status=PAUSED_CONSENT"));
  } catch (error) {
    mount(body, errorBox(error, () => renderConsents(ctx)));
    return;
  }
  ctx.poll(async () => draw(await api.get("/runs?status=PAUSED_CONSENT")), 5000);
}
