// Tools: list, a tool's page (capabilities, credentials by name only, reachability test), and
// the create/edit form (create is an upsert by name).

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, facts, field, formError, confirmDialog, loading, errorBox, badge } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { listView } from "../lib/list.js";

async function starterKit(ctx, after) {
  try {
    const result = await api.post("/starter-kit");
    ctx.toast(result.message || "Starter kit added");
    after();
  } catch (error) {
    ctx.toast(error.message, "bad");
  }
}

export async function renderList(ctx) {
  const body = h("div", {});
  const view = listView({
    label: "Tools",
    columns: [
      { key: "name", label: "Name", render: (t) => h("a", { href: `#/tools/${seg(t.name)}` }, t.name) },
      { key: "topology", label: "Topology" },
      { key: "base_url", label: "Base URL", render: (t) => h("code", { class: "wrap" }, t.base_url) },
      { key: "auth_type", label: "Auth" },
      { key: "access_mode", label: "Access" },
      { key: "capabilities", label: "Capabilities", value: (t) => t.capabilities.length, render: (t) => String(t.capabilities.length) },
      { key: "status", label: "Status", value: (t) => t.status.phase, render: (t) => h("span", { title: t.status.message }, statusBadge(t.status.phase)) },
    ],
    search: (t) => [t.name, t.description, t.base_url, t.auth_type, t.access_mode].join(" "),
    filters: [
      { label: "Access modes", options: [["Open", "open"], ["Restricted", "restricted"], ["Critical", "critical"]], match: (t, v) => t.access_mode === v },
      { label: "Auth types", options: [["None", "none"], ["APIKey", "API key"], ["OAuth2", "OAuth2"]], match: (t, v) => t.auth_type === v },
    ],
    sort: { key: "name" },
    rowId: (t) => t.name,
    empty: () => empty("No tools yet", "A tool is an API your agents may call through the platform, which holds its credentials and applies policy to every call.",
      h("a", { class: "button primary", href: "#/tools/new" }, "New tool"),
      h("button", { type: "button", onclick: () => starterKit(ctx, () => renderList(ctx)) }, "Add starter Echo Tool")),
  });
  mount(ctx.root, pageHeader("Tools", "APIs your agents call, with their credentials held by the platform.", h("a", { class: "button primary", href: "#/tools/new" }, "New tool")), body);
  await ctx.load(body, () => api.get("/tools"), (tools) => {
    body.append(view.el);
    view.update(tools);
  });
  ctx.poll(async () => view.update(await api.get("/tools")), 15000);
}

export async function renderTool(ctx) {
  const name = ctx.params.name;
  mount(ctx.root, loading());
  let tool;
  try {
    tool = await api.get(`/tools/${seg(name)}`);
  } catch (error) {
    mount(ctx.root, pageHeader(name), errorBox(error, () => renderTool(ctx)), h("a", { href: "#/tools" }, "All tools"));
    return;
  }
  const testResult = h("div", { "aria-live": "polite" });
  const test = async () => {
    mount(testResult, loading("Testing…"));
    try {
      const probe = await api.post(`/tools/${seg(name)}/test`);
      mount(testResult, h("div", { class: ["banner", probe.reachable ? "ok" : "bad"], role: "status" },
        probe.reachable ? `Reachable: HTTP ${probe.status_code} in ${probe.latency_ms} ms` : `Not reachable: ${probe.error || probe.message || "no answer"}`));
    } catch (error) {
      mount(testResult, formError(error.message));
    }
  };
  const remove = async () => {
    if (!(await confirmDialog(`Delete tool ${name}?`, "Agents that list it can no longer call it.", "Delete tool"))) return;
    try {
      await api.del(`/tools/${seg(name)}`);
      ctx.toast(`Deleted ${name}`);
      ctx.go("#/tools");
    } catch (error) {
      ctx.toast(error.message, "bad");
    }
  };
  mount(ctx.root,
    pageHeader(tool.name, tool.description,
      h("button", { type: "button", onclick: test }, "Test"),
      h("a", { class: "button", href: `#/tools/new?edit=${seg(name)}` }, "Edit"),
      h("button", { type: "button", class: "danger", onclick: remove }, "Delete")),
    testResult,
    facts([
      ["Status", [statusBadge(tool.status.phase), " ", h("span", { class: "muted" }, tool.status.message)]],
      ["Base URL", h("code", { class: "wrap" }, tool.base_url)],
      ["Topology", tool.topology],
      ["Authentication", tool.auth_type],
      ["Access mode", tool.access_mode],
      ["Credentials stored", tool.credentials_configured.length ? tool.credentials_configured.join(", ") : "none"],
      ["Risk tags", (tool.spec.riskTags || []).join(", ")],
      ["Updated", when(tool.updated_at)],
    ]),
    h("section", { class: "panel", "aria-labelledby": "caps-title" },
      h("h2", { id: "caps-title" }, "Capabilities"),
      tool.capabilities.length === 0
        ? h("p", { class: "muted" }, "None declared: any method and path of the base URL may be called, as policy allows.")
        : h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Name", "Method", "Path", "Risk tags", "Description"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, tool.capabilities.map((c) => h("tr", {},
            h("td", { "data-label": "Name" }, c.name),
            h("td", { "data-label": "Method" }, c.method),
            h("td", { "data-label": "Path" }, h("code", {}, c.path)),
            h("td", { "data-label": "Risk tags" }, (c.riskTags || []).map((t) => badge(t, "warn"))),
            h("td", { "data-label": "Description" }, c.description || "—")))))));
}

function capabilityRow(cap = {}) {
  const name = h("input", { type: "text", value: cap.name || "", "aria-label": "Capability name", placeholder: "create-charge" });
  const method = h("select", { "aria-label": "Method" }, ["GET", "POST", "PUT", "PATCH", "DELETE", "*"].map((m) => h("option", { value: m, selected: (cap.method || "GET") === m }, m)));
  const path = h("input", { type: "text", value: cap.path || "", "aria-label": "Path", placeholder: "/v1/charges" });
  const tags = h("input", { type: "text", value: (cap.riskTags || []).join(", "), "aria-label": "Risk tags", placeholder: "financial, pii" });
  const row = h("div", { class: "cap-row" }, name, method, path, tags,
    h("button", { type: "button", class: "link", "aria-label": "Remove capability", onclick: () => row.remove() }, "Remove"));
  row.read = () => ({ name: name.value.trim(), method: method.value, path: path.value.trim() || "/", riskTags: tags.value.split(",").map((t) => t.trim()).filter(Boolean) });
  return row;
}

export async function renderForm(ctx) {
  const editing = ctx.query.get("edit");
  const body = h("div", {});
  mount(ctx.root, pageHeader(editing ? `Edit ${editing}` : "New tool", "The platform stores the credentials encrypted and never shows them again."), body);
  await ctx.load(body, () => (editing ? api.get(`/tools/${seg(editing)}`) : Promise.resolve(null)), (tool) => {
    const spec = tool ? tool.spec : {};
    const auth = spec.connection?.authentication || {};
    const name = h("input", { type: "text", required: true, value: tool?.name || "", disabled: Boolean(tool), autocomplete: "off" });
    const description = h("input", { type: "text", value: spec.description || "" });
    const baseUrl = h("input", { type: "url", required: true, value: spec.connection?.baseUrl || "", placeholder: "https://api.example.com" });
    const authType = h("select", {}, [["None", "None"], ["APIKey", "API key"]].map(([v, l]) => h("option", { value: v, selected: auth.type === v }, l)));
    const headerName = h("input", { type: "text", value: auth.apiKeyConfig?.name || "Authorization" });
    const prefix = h("input", { type: "text", value: auth.apiKeyConfig?.valuePrefix ?? "Bearer " });
    const secret = h("input", { type: "password", autocomplete: "new-password", placeholder: tool?.credentials_configured?.includes("api_key") ? "stored; leave empty to keep" : "" });
    const keyFields = h("div", { class: "sub-fields" }, field("Header", headerName), field("Value prefix", prefix), field("API key", secret, "Sent only to this tool's base URL, by the platform."));
    const syncAuth = () => { keyFields.hidden = authType.value !== "APIKey"; };
    authType.addEventListener("change", syncAuth);
    syncAuth();
    const access = h("select", {}, ["Restricted", "Open", "Critical"].map((m) => h("option", { value: m, selected: tool?.access_mode === m }, m)));
    const caps = h("div", { class: "caps" }, (spec.capabilities || []).map(capabilityRow));
    const error = h("div", {});
    const initial = () => JSON.stringify([tool?.name || "", spec.description || "", spec.connection?.baseUrl || ""]);
    ctx.guard(() => !body.dataset.saved && JSON.stringify([name.value, description.value, baseUrl.value]) !== initial());
    body.append(h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        const authentication = authType.value === "APIKey"
          ? { type: "APIKey", apiKeyConfig: { in: "Header", name: headerName.value.trim(), valuePrefix: prefix.value } }
          : { type: "None" };
        const request = {
          name: (tool?.name || name.value).trim(),
          spec: {
            description: description.value.trim(),
            connection: { baseUrl: baseUrl.value.trim(), authentication },
            governance: { accessControl: { mode: access.value } },
            capabilities: [...caps.children].map((row) => row.read()).filter((c) => c.name),
          },
        };
        if (authType.value === "APIKey" && secret.value) request.credentials = { api_key: secret.value };
        try {
          const saved = await api.post("/tools", request);
          body.dataset.saved = "1";
          ctx.toast(`Saved ${saved.name}`);
          ctx.go(`#/tools/${seg(saved.name)}`);
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("Name", name, "Lowercase letters, digits and '-'."),
    field("Description", description),
    field("Base URL", baseUrl),
    field("Authentication", authType),
    keyFields,
    field("Access mode", access),
    h("fieldset", {}, h("legend", {}, "Capabilities"), h("p", { class: "hint" }, "With any capability declared, only matching calls (method + path, '*' suffix for a prefix) get through."), caps,
      h("button", { type: "button", onclick: () => caps.append(capabilityRow()) }, "Add capability")),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, editing ? "Save tool" : "Create tool"), h("a", { class: "button", href: editing ? `#/tools/${seg(editing)}` : "#/tools" }, "Cancel"))));
  });
}
