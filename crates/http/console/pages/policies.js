// Policies: the list, and an editor for one policy as YAML (sent as application/yaml; the server
// parses and validates it) or JSON, with the server's validation errors and an unsaved-change
// warning.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, field, formError, confirmDialog, badge, loading, errorBox, uid } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { listView } from "../lib/list.js";
import { toYaml } from "../lib/yaml.js";

const TEMPLATE = {
  name: "my-policy",
  spec: {
    policies: [
      { permission: "allow", operations: ["GET"], resource: "https://api.example.com/*" },
      { permission: "approval_required", operations: ["POST", "PUT", "PATCH"], resource: "https://api.example.com/*" },
      { permission: "deny", operations: ["DELETE"], resource: "https://api.example.com/*" },
    ],
  },
};

export async function renderList(ctx) {
  const body = h("div", {});
  const view = listView({
    label: "Policies",
    columns: [
      { key: "name", label: "Name", render: (p) => h("a", { href: `#/policies/${seg(p.name)}` }, p.name) },
      { key: "rules", label: "Rules", value: (p) => p.spec.policies.length, render: (p) => String(p.spec.policies.length) },
      { key: "decides", label: "Decides", sortable: false, render: (p) => [...new Set(p.spec.policies.map((r) => r.permission))].map((k) => badge(k.replace("_", " "), k === "allow" ? "ok" : k === "deny" ? "bad" : "warn")) },
      { key: "routes", label: "Approval routes", value: (p) => p.spec.approvals.length, render: (p) => String(p.spec.approvals.length) },
      { key: "used_by", label: "Used by", value: (p) => p.used_by.length, render: (p) => p.used_by.length ? p.used_by.map((a, i) => [i ? ", " : "", h("a", { href: `#/agents/${seg(a.name)}` }, a.name)]) : h("span", { class: "muted" }, "no agent") },
      { key: "updated_at", label: "Updated", render: (p) => when(p.updated_at) },
    ],
    search: (p) => [p.name, JSON.stringify(p.spec), p.used_by.map((a) => a.name).join(" ")].join(" "),
    filters: [{ label: "Usage", options: [["used", "bound to an agent"], ["unused", "not bound"]], match: (p, v) => (v === "used") === (p.used_by.length > 0) }],
    sort: { key: "name" },
    rowId: (p) => p.name,
    empty: () => empty("No policies yet", "A policy's rules decide every tool call of the agents it is bound to: allow, deny, or approval required. With no policy bound, an agent's calls are denied.",
      h("a", { class: "button primary", href: "#/policies/new" }, "New policy")),
  });
  mount(ctx.root, pageHeader("Policies", "Rules for what agents may do: deny beats approval_required beats allow; no match is a deny.", h("a", { class: "button primary", href: "#/policies/new" }, "New policy")), body);
  await ctx.load(body, () => api.get("/policies"), (policies) => {
    body.append(view.el);
    view.update(policies);
  });
  ctx.poll(async () => view.update(await api.get("/policies")), 15000);
}

/** The document the editor shows: what `POST /policies` takes back. */
function editable(policy) {
  return { name: policy.name, spec: policy.spec };
}

export async function renderEditor(ctx) {
  const name = ctx.params.name;
  mount(ctx.root, loading());
  let policy = null;
  if (name) {
    try {
      policy = await api.get(`/policies/${seg(name)}`);
    } catch (error) {
      mount(ctx.root, pageHeader(name), errorBox(error, () => renderEditor(ctx)), h("a", { href: "#/policies" }, "All policies"));
      return;
    }
  }
  let format = ctx.query.get("format") === "json" ? "json" : "yaml";
  let saved = policy ? editable(policy) : TEMPLATE;
  const render = (doc) => (format === "yaml" ? toYaml(doc) : `${JSON.stringify(doc, null, 2)}\n`);
  const editorId = uid("editor");
  const editor = h("textarea", { id: editorId, class: "code-editor", rows: "18", spellcheck: "false", autocapitalize: "off", "aria-describedby": `${editorId}-hint` });
  editor.value = render(saved);
  let baseline = editor.value;
  const dirty = () => editor.value !== baseline;
  ctx.guard(dirty);
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const error = h("div", {});
  const formatButtons = ["yaml", "json"].map((f) => h("button", {
    type: "button", "aria-pressed": String(f === format),
    onclick: () => {
      if (f === format) return;
      if (dirty()) {
        status.textContent = "Save or discard your changes before switching format.";
        return;
      }
      format = f;
      editor.value = render(saved);
      baseline = editor.value;
      for (const b of formatButtons) b.setAttribute("aria-pressed", String(b.textContent.toLowerCase() === format));
      status.textContent = `Editing as ${format.toUpperCase()}.`;
    },
  }, f.toUpperCase()));
  editor.addEventListener("input", () => {
    status.textContent = dirty() ? "Unsaved changes." : "";
  });
  const save = async (event) => {
    event.preventDefault();
    error.replaceChildren();
    let body = editor.value;
    if (format === "json") {
      try {
        body = JSON.parse(editor.value);
      } catch (failure) {
        error.replaceChildren(formError(`Invalid JSON: ${failure.message}`));
        return;
      }
    }
    try {
      const method = policy ? "PUT" : "POST";
      const path = policy ? `/policies/${seg(policy.name)}` : "/policies";
      const stored = format === "yaml" ? await api.sendYaml(method, path, body) : (policy ? await api.put(path, body) : await api.post(path, body));
      saved = editable(stored);
      baseline = editor.value;
      status.textContent = `Saved ${stored.name}: ${stored.status.message}.`;
      ctx.toast(`Saved policy ${stored.name}`);
      if (!policy) ctx.go(`#/policies/${seg(stored.name)}`);
      else policy = stored;
    } catch (failure) {
      error.replaceChildren(formError(failure.message));
      editor.setAttribute("aria-invalid", "true");
      editor.focus();
    }
  };
  const remove = async () => {
    if (!(await confirmDialog(`Delete policy ${policy.name}?`, "A policy bound to an agent cannot be deleted; unbind it first.", "Delete policy"))) return;
    try {
      await api.del(`/policies/${seg(policy.name)}`);
      baseline = editor.value;
      ctx.toast(`Deleted ${policy.name}`);
      ctx.go("#/policies");
    } catch (failure) {
      error.replaceChildren(formError(failure.message));
    }
  };
  editor.addEventListener("input", () => editor.removeAttribute("aria-invalid"));
  mount(ctx.root,
    pageHeader(policy ? policy.name : "New policy", policy ? `${policy.status.message}; ${policy.used_by.length ? `bound to ${policy.used_by.map((a) => a.name).join(", ")}` : "not bound to any agent"}` : "Write the policy, then save: the server checks it and says what is wrong.",
      policy ? h("button", { type: "button", class: "danger", onclick: remove }, "Delete") : null),
    h("form", { class: "form wide", onsubmit: save },
      h("div", { class: "toolbar", role: "group", "aria-label": "Format" }, formatButtons),
      field("Policy document", editor),
      h("p", { class: "hint", id: `${editorId}-hint` }, "Rules: permission (allow, deny, approval_required), operations (HTTP methods; empty = all), resource (URL, '*' suffix for a prefix), tags (risk tags). Optional approvals: routes naming approvers and delivery."),
      error,
      status,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, policy ? "Save policy" : "Create policy"),
        h("button", {
          type: "button",
          onclick: () => {
            editor.value = baseline;
            error.replaceChildren();
            status.textContent = "Changes discarded.";
          },
        }, "Discard changes"),
        h("a", { class: "button", href: "#/policies" }, "Back to policies"))));
}
