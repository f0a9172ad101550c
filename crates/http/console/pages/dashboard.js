// Dashboard: what needs a person now (approvals, consents), what runs, what it costs, and a
// getting-started path for a new workspace.

import { api } from "../lib/api.js";
import { h, mount, pageHeader, statusBadge, badge } from "../lib/dom.js";
import { when, usd, shortId, plural } from "../lib/format.js";
import { deployHelloWorld } from "./deploy.js";

async function fetchAll() {
  const [agents, running, requests, consents, spend, tools, providers, idps, policies, connectors] = await Promise.all([
    api.get("/agents"),
    api.get("/runs?status=RUNNING"),
    api.get("/approvals/requests"),
    api.get("/runs?status=PAUSED_CONSENT"),
    api.get("/model-spend"),
    api.get("/tools"),
    api.get("/model-providers"),
    api.get("/identity-providers"),
    api.get("/policies"),
    api.get("/approval-connectors"),
  ]);
  // The server leaves out stale requests (of deleted agents' runs).
  return { agents, running, requests, consents, spend, tools, providers, idps, policies, connectors };
}

/** "Deploy the hello-world agent": seeds the starter kit if needed, deploys, opens its playground. */
function helloWorldButton(ctx, label, primary) {
  const button = h("button", {
    type: "button", class: primary ? "primary" : null, "data-action": "hello-world",
    onclick: async () => {
      button.disabled = true;
      const text = button.textContent;
      button.textContent = "Deploying…";
      try {
        const name = await deployHelloWorld();
        ctx.toast(`${name} is deployed: say hello`);
        ctx.go(`#/agents/${name}/playground`);
      } catch (error) {
        ctx.toast(error.message, "bad");
        button.disabled = false;
        button.textContent = text;
      }
    },
  }, label);
  return button;
}

function card(label, value, detail, href, kind) {
  return h("a", { class: ["card", "stat", kind && `stat-${kind}`], href },
    h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value" }, value),
    detail ? h("span", { class: "stat-detail" }, detail) : null);
}

function gettingStarted(data, ctx, rerender) {
  const steps = [
    {
      done: data.tools.some((t) => t.name === "echo-tool") && data.providers.length > 0,
      title: "Add the starter kit",
      text: "Registers the echo tool (a tool the platform serves itself) and the offline playground model.",
      action: h("button", {
        type: "button", class: "primary", "data-action": "starter-kit",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            const result = await api.post("/starter-kit");
            ctx.toast(result.message || "Starter kit added");
            await rerender();
          } catch (error) {
            ctx.toast(error.message, "bad");
            event.target.disabled = false;
          }
        },
      }, "Add starter kit"),
    },
    {
      done: data.policies.length > 0,
      title: "Write a policy",
      text: "Policies decide each tool call: allow, deny, or ask a person first.",
      action: h("a", { class: "button", href: "#/policies/new" }, "New policy"),
    },
    {
      done: data.agents.length > 0,
      title: "Deploy the hello-world agent",
      text: "A Tier-1 agent the platform runs itself: the echo tool and the offline playground model, under the starter kit's policy. Adds the starter kit if it is missing, then opens its playground.",
      action: helloWorldButton(ctx, "Deploy the hello-world agent", true),
    },
    {
      done: data.connectors.length > 0,
      title: "Route approvals to your team (optional)",
      text: "Send approval requests to Slack, Teams, Jira, PagerDuty or a webhook. They always stay in this console's queue too.",
      action: h("a", { class: "button", href: "#/connectors" }, "Approval connectors"),
    },
  ];
  const remaining = steps.filter((s) => !s.done).length;
  if (remaining === 0) return null;
  return h("section", { class: "panel", "aria-labelledby": "gs-title" },
    h("h2", { id: "gs-title" }, "Getting started"),
    h("p", { class: "muted" }, `${steps.length - remaining} of ${steps.length} done`),
    h("ol", { class: "checklist" }, steps.map((step) => h("li", { class: step.done ? "done" : "" },
      h("span", { class: "check", "aria-hidden": "true" }, step.done ? "✓" : ""),
      h("div", {},
        h("strong", {}, step.title, step.done ? h("span", { class: "sr-only" }, " (done)") : null),
        h("p", {}, step.text)),
      step.done ? null : step.action))));
}

function approvalsPanel(requests) {
  return h("section", { class: "panel", "aria-labelledby": "pa-title" },
    h("h2", { id: "pa-title" }, "Pending approvals"),
    requests.length === 0
      ? h("p", { class: "muted" }, "No action is waiting for approval.")
      : h("ul", { class: "rows" }, requests.slice(0, 5).map((r) => h("li", {},
        h("div", {}, h("strong", {}, `${r.tool_method} ${r.tool}`), " ", h("span", { class: "muted" }, `by ${r.agent} for ${r.subject || "no user"}`)),
        h("div", { class: "row-end" }, when(r.created_at), h("a", { href: "#/approvals" }, "Review"))))),
    requests.length > 5 ? h("a", { href: "#/approvals" }, `All ${requests.length} requests`) : null);
}

function consentsPanel(consents) {
  return h("section", { class: "panel", "aria-labelledby": "pc-title" },
    h("h2", { id: "pc-title" }, "Pending consents"),
    consents.length === 0
      ? h("p", { class: "muted" }, "No run is waiting for a user's OAuth consent.")
      : h("ul", { class: "rows" }, consents.slice(0, 5).map((run) => h("li", {},
        h("div", {}, h("a", { href: `#/runs/${run.id}` }, shortId(run.id)), " ", h("span", { class: "muted" }, `${run.agent} · ${run.user_id || "no user"}`)),
        h("div", { class: "row-end" }, when(run.updated_at))))));
}

function spendPanel(spend) {
  const s = spend.summary;
  const watch = spend.warnings || [];
  const top = (spend.top_models || []).slice(0, 5);
  return h("section", { class: "panel", "aria-labelledby": "sp-title" },
    h("h2", { id: "sp-title" }, "Model spend this month"),
    h("div", { class: "mini-stats" },
      h("div", {}, h("span", { class: "muted" }, "Spent"), h("strong", {}, usd(s.total_estimated_spend_usd))),
      h("div", {}, h("span", { class: "muted" }, "Budgeted"), h("strong", {}, usd(s.total_budget_usd))),
      h("div", {}, h("span", { class: "muted" }, "Near budget"), h("strong", {}, String(s.near_budget_count))),
      h("div", {}, h("span", { class: "muted" }, "Blocked"), h("strong", {}, String(s.blocked_count)))),
    h("h3", {}, "Budget watch"),
    watch.length === 0
      ? h("p", { class: "muted" }, "No model is near or over its budget.")
      : h("ul", { class: "rows" }, watch.map((item) => h("li", {},
        h("div", {}, h("a", { href: `#/agents/${item.agent_name}/config` }, item.agent_name), " ", h("span", { class: "muted" }, item.label)),
        h("div", { class: "row-end" }, `${usd(item.estimated_spend_usd)} of ${usd(item.monthly_budget_usd)}`, statusBadge(item.status))))),
    h("h3", {}, "Top model spend"),
    top.length === 0
      ? h("p", { class: "muted" }, "No model calls through the gateway yet this month.")
      : h("ul", { class: "rows" }, top.map((item) => h("li", {},
        h("div", {}, h("a", { href: `#/agents/${item.agent_name}/config` }, item.agent_name), " ", h("span", { class: "muted" }, item.label)),
        h("div", { class: "row-end" }, usd(item.estimated_spend_usd))))));
}

export async function render(ctx) {
  const body = h("div", {});
  mount(ctx.root, pageHeader("Dashboard", `Workspace ${ctx.session.workspace}`), body);
  const draw = (data) => {
    const healthy = data.agents.filter((a) => a.status && a.status.phase === "Running").length;
    const fresh = data.agents.length === 0 && data.tools.length === 0;
    mount(body,
      fresh ? h("section", { class: "hero" },
        h("h2", {}, "Welcome to RunAgents"),
        h("p", {}, "Run agents whose every action on real systems goes through policy, human approval and consent."),
        h("div", { class: "actions" },
          helloWorldButton(ctx, "Deploy Hello World Agent", true),
          h("a", { class: "button", href: "#/agents/new" }, "I have my own code"))) : null,
      h("div", { class: "stats" },
        card("Agents", `${healthy}/${data.agents.length}`, "healthy / total", "#/agents"),
        card("Running runs", String(data.running.length), null, "#/runs?status=RUNNING"),
        card("Pending approvals", String(data.requests.length), data.requests.length ? "need a decision" : "queue clear", "#/approvals", data.requests.length ? "warn" : null),
        card("Pending consents", String(data.consents.length), data.consents.length ? "waiting on users" : "none waiting", "#/consents", data.consents.length ? "warn" : null)),
      h("p", { class: "muted setup-counts" },
        `${plural(data.tools.length, "tool")} · ${plural(data.providers.length, "model provider")} · ${plural(data.idps.length, "identity provider")} · ${plural(data.policies.length, "policy", "policies")}`,
        data.agents.some((a) => a.status && a.status.phase === "Pending") ? [" · ", badge("agents starting", "muted")] : null),
      gettingStarted(data, ctx, refresh),
      h("div", { class: "grid-2" }, approvalsPanel(data.requests), consentsPanel(data.consents)),
      spendPanel(data.spend));
  };
  const refresh = async () => draw(await fetchAll());
  await ctx.load(body, fetchAll, draw);
  ctx.poll(refresh, 10000);
}
