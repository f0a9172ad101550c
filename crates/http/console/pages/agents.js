// Agents: the list, and an agent's page with tabs: overview (with a Tier-2 agent's build and
// a rebuild), configuration (prompt, models, budgets and usage), flow (each tool with its
// policy decision), runs (of the current deployment apart from earlier ones), the playground
// chat and the logs.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, facts, badge, field, formError, confirmDialog, tabList, loading, errorBox } from "../lib/dom.js";
import { when, usd, plural } from "../lib/format.js";
import { listView } from "../lib/list.js";
import { buildPanel } from "../lib/build.js";
import { runColumns, runSearch } from "./runs.js";
import { playgroundTab } from "./playground.js";
import { logsTab } from "./logs.js";

const TABS = [["overview", "Overview"], ["config", "Configuration"], ["flow", "Flow"], ["runs", "Runs"], ["playground", "Playground"], ["logs", "Logs"]];

function toolNames(agent) {
  return (agent.required_tools || []).join(", ") || "—";
}

export async function renderList(ctx) {
  const body = h("div", {});
  const view = listView({
    label: "Agents",
    columns: [
      { key: "name", label: "Name", render: (a) => h("a", { href: `#/agents/${seg(a.name)}` }, a.name) },
      { key: "phase", label: "Status", value: (a) => a.status.phase, render: (a) => h("span", { title: a.status.message }, statusBadge(a.status.phase)) },
      { key: "mode", label: "Execution", value: (a) => a.spec.executionMode, render: (a) => [a.spec.executionMode || "—", " ", h("span", { class: "muted" }, `tier ${a.spec.tier}`)] },
      { key: "tools", label: "Tools", value: toolNames, render: toolNames },
      { key: "policies", label: "Policies", value: (a) => a.spec.policies.join(", "), render: (a) => a.spec.policies.length ? a.spec.policies.join(", ") : badge("none: default deny", "muted") },
      { key: "model", label: "Model", value: (a) => a.llm_config.model || "", render: (a) => a.llm_config.model ? `${a.llm_config.provider}/${a.llm_config.model}` : "—" },
      { key: "updated_at", label: "Updated", render: (a) => when(a.updated_at) },
    ],
    search: (a) => [a.name, toolNames(a), a.spec.policies.join(" "), a.status.phase, a.llm_config.model].join(" "),
    filters: [{ label: "Statuses", options: [["Running", "running"], ["Pending", "pending"], ["Failed", "failed"]], match: (a, v) => a.status.phase === v }],
    sort: { key: "name" },
    rowId: (a) => a.name,
    empty: () => empty("No agents yet", "Deploy an agent from its source files, wire its tools, model and policies; every call it makes to a tool then goes through policy and approval.",
      h("a", { class: "button primary", href: "#/agents/new?template=hello-world" }, "Deploy hello world"),
      h("a", { class: "button", href: "#/agents/new" }, "Deploy your own")),
  });
  mount(ctx.root, pageHeader("Agents", "Deployed agents, their tools and the policies that govern them.", h("a", { class: "button primary", href: "#/agents/new" }, "Deploy agent")), body);
  await ctx.load(body, () => api.get("/agents"), (agents) => {
    body.append(view.el);
    view.update(agents);
  });
  ctx.poll(async () => view.update(await api.get("/agents")), 10000);
}

const hosted = (agent) => agent.spec.executionMode === "PYTHON_RUNTIME";

/** What the agent's status says, kept up to date while a hosted agent is not running yet. */
function liveStatus(agent, ctx, onChange) {
  const node = h("span", { class: "agent-status" });
  const draw = (status) => mount(node, statusBadge(status.phase), " ", h("span", { class: "muted" }, status.message));
  draw(agent.status);
  if (hosted(agent)) {
    let last = JSON.stringify(agent.status);
    ctx.poll(async () => {
      const fresh = await api.get(`/agents/${seg(agent.name)}`);
      const text = JSON.stringify(fresh.status);
      if (text === last) return;
      last = text;
      agent.status = fresh.status;
      draw(fresh.status);
      onChange(fresh.status);
    }, 3000);
  }
  return node;
}

function buildSection(agent, ctx) {
  if (!hosted(agent)) return null;
  if (!agent.status.buildId) {
    return h("section", { class: "panel", "aria-labelledby": "build-none" }, h("h2", { id: "build-none" }, "Build"),
      h("p", { class: "muted" }, agent.status.message || "No build: this server does not host agents."));
  }
  const error = h("div", {});
  const rebuild = h("button", {
    type: "button",
    onclick: async () => {
      rebuild.disabled = true;
      error.replaceChildren();
      try {
        const build = await api.post("/builds", { agent_name: agent.name });
        ctx.toast(`Rebuilding ${agent.name}`);
        panel.follow(build.id);
      } catch (failure) {
        error.replaceChildren(formError(failure.message));
      } finally {
        rebuild.disabled = false;
      }
    },
  }, "Rebuild");
  const panel = buildPanel(ctx, agent.status.buildId, { actions: () => [rebuild, error] });
  return panel.el;
}

function overview(agent, ctx, headerBadge) {
  const spec = agent.spec;
  const banner = h("div", {});
  const note = (status) => mount(banner, status.phase === "Pending"
    ? h("div", { class: "banner info", role: "status" }, hosted(agent)
      ? `Not running yet: ${status.message || "waiting for its build"}. Its configuration, policies and runs are live; it answers once its runtime runs.`
      : `Not running yet (${status.message || "waiting"}).`)
    : status.phase === "Failed" ? h("div", { class: "banner bad", role: "status" }, `Not running: ${status.message}`) : null);
  note(agent.status);
  const status = liveStatus(agent, ctx, (fresh) => {
    note(fresh);
    mount(headerBadge, statusBadge(fresh.phase));
  });
  return h("div", {},
    banner,
    facts([
      ["Status", status],
      ["Execution mode", spec.executionMode],
      ["Tier", String(spec.tier)],
      ["Model", agent.llm_config.model ? `${agent.llm_config.provider}/${agent.llm_config.model}` : "—"],
      ["Tools", spec.requiredTools.length ? spec.requiredTools.map((t, i) => [i ? ", " : "", h("a", { href: `#/tools/${seg(t.name)}` }, t.name)]) : "—"],
      ["Policies", spec.policies.length ? spec.policies.map((p, i) => [i ? ", " : "", h("a", { href: `#/policies/${seg(p)}` }, p)]) : badge("none: every tool call is denied", "bad")],
      ["Identity provider", spec.identityProvider],
      ["Source files", spec.sourceFiles.join(", ")],
      ["Entry point", spec.entryPoint],
      ["Framework", spec.framework],
      ["Deployed", when(agent.created_at)],
      ["Updated", when(agent.updated_at)],
    ]),
    buildSection(agent, ctx),
    h("div", { class: "actions" },
      h("a", { class: "button primary", href: `#/agents/${seg(agent.name)}/playground` }, "Open the playground"),
      h("a", { class: "button", href: `#/agents/${seg(agent.name)}/logs` }, "Logs")),
    h("div", { class: "actions danger-zone" },
      h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!(await confirmDialog(`Delete agent ${agent.name}?`, "Its credential stops working at once. Its runs stay in the audit trail.", "Delete agent"))) return;
          try {
            await api.del(`/agents/${seg(agent.name)}`);
            ctx.toast(`Deleted ${agent.name}`);
            ctx.go("#/agents");
          } catch (error) {
            ctx.toast(error.message, "bad");
          }
        },
      }, "Delete agent")));
}

function configTab(agent, ctx, container) {
  return ctx.load(container, () => api.get(`/agents/${seg(agent.name)}/config`), (config) => {
    const prompt = h("textarea", { rows: "6", value: config.system_prompt });
    const budgets = config.llm_configs.map((llm) => h("input", {
      type: "number", min: "0", step: "0.01", inputmode: "decimal", placeholder: "no budget",
      value: llm.monthly_budget_usd ?? "", "aria-label": `Monthly budget for ${llm.role} ${llm.model}`,
    }));
    const original = () => JSON.stringify([config.system_prompt, config.llm_configs.map((l) => l.monthly_budget_usd ?? "")]);
    const current = () => JSON.stringify([prompt.value, budgets.map((b) => (b.value === "" ? "" : Number(b.value)))]);
    ctx.guard(() => current() !== original());
    const error = h("div", {});
    const usage = new Map(config.model_usage.map((u) => [u.role, u]));
    container.append(h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        const llm_configs = config.llm_configs.map((llm, i) => ({ ...llm, monthly_budget_usd: budgets[i].value === "" ? null : Number(budgets[i].value) }));
        try {
          const saved = await api.put(`/agents/${seg(agent.name)}/config`, { system_prompt: prompt.value, llm_configs });
          config.system_prompt = saved.system_prompt;
          config.llm_configs = saved.llm_configs;
          ctx.toast("Configuration saved");
          mount(container);
          configTab(agent, ctx, container);
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("System prompt", prompt),
    h("h3", {}, "Models, budgets and this month's usage"),
    config.llm_configs.length === 0 ? h("p", { class: "muted" }, "No model is mapped to this agent.") : h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Role", "Model", "Monthly budget (USD)", "Spent", "Remaining", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, config.llm_configs.map((llm, i) => {
        const used = usage.get(llm.role) || {};
        return h("tr", {},
          h("td", { "data-label": "Role" }, llm.role),
          h("td", { "data-label": "Model" }, `${llm.model_provider || llm.provider}/${llm.model}`),
          h("td", { "data-label": "Budget" }, budgets[i]),
          h("td", { "data-label": "Spent" }, usd(used.estimated_spend_usd)),
          h("td", { "data-label": "Remaining" }, usd(used.remaining_budget_usd)),
          h("td", { "data-label": "Status" }, used.status ? statusBadge(used.status) : "—"));
      }))),
    facts([["Tools", config.required_tools.join(", ")], ["Policies", config.policies.join(", ")], ["Identity provider", config.identity_provider], ["Runtime", config.runtime]]),
    error,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Save configuration"),
      h("button", {
        type: "button",
        onclick: () => {
          prompt.value = config.system_prompt;
          config.llm_configs.forEach((l, i) => { budgets[i].value = l.monthly_budget_usd ?? ""; });
        },
      }, "Discard changes"))));
  });
}

const DECISION_TEXT = { allow: "allow", deny: "deny", approval_required: "approval required", no_policy: "no policy" };

function flowTab(agent, ctx, container) {
  return ctx.load(container, () => Promise.all([api.get(`/agents/${seg(agent.name)}/flow`), api.get("/tools")]), ([flow, tools]) => {
    const byName = new Map(tools.map((t) => [t.name, t]));
    const llms = agent.spec.llmConfigs || [];
    container.append(
      h("p", { class: "muted" }, "Each tool this agent may call, with what its bound policies decide for each capability — the same decision the agent plane makes for a real call."),
      h("ul", { class: "legend", "aria-label": "Legend" }, Object.entries(DECISION_TEXT).map(([k, v]) => h("li", {}, statusBadge(k), " ", k === "no_policy" ? "nothing bound: denied by default" : v))),
      h("div", { class: "flow" },
        h("div", { class: "flow-agent" }, h("strong", {}, agent.name), h("span", { class: "muted" }, plural(agent.spec.policies.length, "policy", "policies")),
          llms.map((l) => h("span", { class: "flow-llm" }, `${l.role}: ${l.provider}/${l.model}`))),
        flow.tools.length === 0 ? empty("No tools", "This agent calls no tools.") : h("div", { class: "flow-tools" }, flow.tools.map((t) => {
          const tool = byName.get(t.tool);
          return h("article", { class: "card flow-tool", "data-tool": t.tool },
            h("header", {}, h("h3", {}, h("a", { href: `#/tools/${seg(t.tool)}` }, t.tool)),
              tool ? h("span", { class: "muted" }, `auth ${tool.auth_type} · access ${tool.access_mode} · ${plural(tool.capabilities.length, "capability", "capabilities")}`) : badge("not registered", "bad")),
            t.base_url ? h("p", { class: "muted small" }, t.base_url) : null,
            t.decisions.length === 0 ? h("p", {}, "Every call is refused: the tool is not registered.") : h("ul", { class: "rows" }, t.decisions.map((d) => h("li", { "data-decision": d.decision },
              h("div", {}, h("code", {}, `${d.method} ${d.path}`), d.capability ? h("span", { class: "muted" }, ` ${d.capability}`) : null),
              h("div", { class: "row-end" }, h("span", { title: d.reason }, statusBadge(d.decision)),
                d.policy ? h("a", { href: `#/policies/${seg(d.policy)}`, class: "small" }, `${d.policy} #${d.rule}`) : null)))));
        }))));
  });
}

function runsTab(agent, ctx, container) {
  const current = listView({
    label: "Runs of the current deployment", columns: runColumns({ agent: false }), search: runSearch, sort: { key: "created_at", desc: true }, rowId: (r) => r.id,
    empty: () => h("p", { class: "muted" }, "No runs since the agent was last deployed or changed. ", h("a", { href: `#/agents/${seg(agent.name)}/playground` }, "Send it a message from the playground"), "."),
  });
  const earlier = listView({ label: "Earlier runs", columns: runColumns({ agent: false }), search: runSearch, sort: { key: "created_at", desc: true }, rowId: (r) => r.id, empty: () => h("p", { class: "muted" }, "No earlier runs.") });
  const split = (runs) => {
    current.update(runs.filter((r) => r.created_at >= agent.updated_at));
    earlier.update(runs.filter((r) => r.created_at < agent.updated_at));
  };
  const fetchRuns = () => api.get(`/runs?agent_id=${seg(agent.name)}`);
  ctx.poll(async () => split(await fetchRuns()), 5000);
  return ctx.load(container, fetchRuns, (runs) => {
    container.append(
      h("h3", {}, "Current deployment"), h("p", { class: "muted small" }, `Runs started since ${new Date(agent.updated_at).toLocaleString()}, when this agent was last deployed or changed.`), current.el,
      h("h3", {}, "Earlier"), earlier.el);
    split(runs);
  });
}

export async function renderAgent(ctx) {
  const name = ctx.params.name;
  const tab = TABS.some(([id]) => id === ctx.params.tab) ? ctx.params.tab : "overview";
  mount(ctx.root, loading());
  let agent;
  try {
    agent = await api.get(`/agents/${seg(name)}`);
  } catch (error) {
    mount(ctx.root, pageHeader(name), errorBox(error, () => renderAgent(ctx)), h("a", { href: "#/agents" }, "All agents"));
    return;
  }
  const panel = h("div", { class: "tab-panel", role: "tabpanel", "aria-labelledby": `tab-${tab}`, tabindex: "0" });
  const headerBadge = h("span", {}, statusBadge(agent.status.phase));
  mount(ctx.root,
    pageHeader(agent.name, null, headerBadge),
    tabList(TABS, tab, (id) => ctx.go(`#/agents/${seg(name)}${id === "overview" ? "" : `/${id}`}`)),
    panel);
  switch (tab) {
    case "config": await configTab(agent, ctx, panel); break;
    case "flow": await flowTab(agent, ctx, panel); break;
    case "runs": await runsTab(agent, ctx, panel); break;
    case "playground": playgroundTab(agent, ctx, panel); break;
    case "logs": await logsTab(agent, ctx, panel); break;
    default: panel.append(overview(agent, ctx, headerBadge));
  }
}
