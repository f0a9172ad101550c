// Models: the registered model providers (the LLM gateway routes by model name to them) and
// this month's spend per agent and model.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, field, formError, confirmDialog, dialog } from "../lib/dom.js";
import { when, usd } from "../lib/format.js";
import { listView } from "../lib/list.js";

const PROVIDERS = ["openai", "anthropic", "bedrock", "ollama", "playground"];

function providerForm(ctx, done) {
  return dialog("New model provider", (close) => {
    const name = h("input", { type: "text", required: true, autocomplete: "off" });
    const provider = h("select", {}, PROVIDERS.map((p) => h("option", { value: p }, p)));
    const endpoint = h("input", { type: "url", placeholder: "default for the provider" });
    const models = h("input", { type: "text", required: true, placeholder: "gpt-4o-mini, gpt-4o" });
    const apiKey = h("input", { type: "password", autocomplete: "new-password" });
    const error = h("div", {});
    return h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        const body = {
          name: name.value.trim(),
          provider: provider.value,
          models: models.value.split(",").map((m) => m.trim()).filter(Boolean),
        };
        if (endpoint.value.trim()) body.endpoint = endpoint.value.trim();
        if (apiKey.value) body.credentials = { api_key: apiKey.value };
        try {
          const saved = await api.post("/model-providers", body);
          ctx.toast(`Saved ${saved.name}`);
          close(saved);
          done();
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("Name", name),
    field("Provider", provider),
    field("Endpoint", endpoint, "Leave empty for the provider's public API (Ollama: localhost)."),
    field("Models", models, "Comma-separated model names this provider serves."),
    field("API key", apiKey, "Stored encrypted; never shown again. Not needed for ollama or playground."),
    error,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close() }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Save provider")));
  });
}

function spendSection(spend) {
  const rows = spend.top_models || [];
  const s = spend.summary;
  return h("section", { class: "panel", "aria-labelledby": "spend-title" },
    h("h2", { id: "spend-title" }, "Spend this month"),
    h("p", { class: "muted" }, `${new Date(s.period_start).toLocaleDateString()} – ${new Date(s.period_end).toLocaleDateString()}`),
    h("div", { class: "mini-stats" },
      h("div", {}, h("span", { class: "muted" }, "Spent"), h("strong", {}, usd(s.total_estimated_spend_usd))),
      h("div", {}, h("span", { class: "muted" }, "Budgeted"), h("strong", {}, usd(s.total_budget_usd))),
      h("div", {}, h("span", { class: "muted" }, "Remaining"), h("strong", {}, usd(s.remaining_budget_usd))),
      h("div", {}, h("span", { class: "muted" }, "Uncapped spend"), h("strong", {}, usd(s.uncapped_spend_usd)))),
    rows.length === 0 ? h("p", { class: "muted" }, "No spend recorded this month.") : h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Agent", "Model", "Spent", "Budget", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        h("td", { "data-label": "Agent" }, h("a", { href: `#/agents/${seg(r.agent_name)}/config` }, r.agent_name)),
        h("td", { "data-label": "Model" }, r.label),
        h("td", { "data-label": "Spent" }, usd(r.estimated_spend_usd)),
        h("td", { "data-label": "Budget" }, usd(r.monthly_budget_usd)),
        h("td", { "data-label": "Status" }, statusBadge(r.status)))))));
}

export async function render(ctx) {
  const body = h("div", {});
  const spendBox = h("div", {});
  const reload = () => render(ctx);
  const view = listView({
    label: "Model providers",
    columns: [
      { key: "name", label: "Name" },
      { key: "provider", label: "Provider" },
      { key: "models", label: "Models", value: (p) => p.models.join(", "), render: (p) => p.models.join(", ") },
      { key: "endpoint", label: "Endpoint", render: (p) => p.endpoint ? h("code", { class: "wrap" }, p.endpoint) : "built in" },
      { key: "status", label: "Status", value: (p) => p.status.phase, render: (p) => h("span", { title: p.status.message }, statusBadge(p.status.phase)) },
      { key: "updated_at", label: "Updated", render: (p) => when(p.updated_at) },
      {
        key: "actions", label: "Actions", sortable: false,
        render: (p) => h("button", {
          type: "button", class: "link danger-text", "aria-label": `Delete ${p.name}`,
          onclick: async () => {
            if (!(await confirmDialog(`Delete model provider ${p.name}?`, "Agents whose models it serves can no longer reach them through the gateway.", "Delete provider"))) return;
            try {
              await api.del(`/model-providers/${seg(p.name)}`);
              ctx.toast(`Deleted ${p.name}`);
              reload();
            } catch (error) {
              ctx.toast(error.message, "bad");
            }
          },
        }, "Delete"),
      },
    ],
    search: (p) => [p.name, p.provider, p.models.join(" "), p.endpoint].join(" "),
    filters: [{ label: "Providers", options: PROVIDERS.map((p) => [p, p]), match: (row, v) => row.provider === v }],
    sort: { key: "name" },
    rowId: (p) => p.name,
    empty: () => empty("No model providers", "The LLM gateway (/v1/chat/completions) routes each request by model name to a provider registered here.",
      h("button", { type: "button", class: "primary", onclick: () => providerForm(ctx, reload) }, "New provider"),
      h("button", {
        type: "button",
        onclick: async () => {
          try {
            await api.post("/starter-kit");
            ctx.toast("Starter kit added");
            reload();
          } catch (error) {
            ctx.toast(error.message, "bad");
          }
        },
      }, "Add starter Playground LLM")),
  });
  mount(ctx.root, pageHeader("Models", "Model providers behind the LLM gateway, and what agents spend on them.", h("button", { type: "button", class: "primary", onclick: () => providerForm(ctx, reload) }, "New provider")), body, spendBox);
  await ctx.load(body, () => api.get("/model-providers"), (providers) => {
    body.append(view.el);
    view.update(providers);
  });
  await ctx.load(spendBox, () => api.get("/model-spend"), (spend) => spendBox.append(spendSection(spend)));
}
