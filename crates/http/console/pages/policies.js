// Policies: the list, and an editor for one policy as YAML (sent as application/yaml; the server
// parses and validates it) or JSON, with the server's validation errors and an unsaved-change
// warning, and a preview: sample calls (from the tools' capabilities) with the decision each
// would get if the policy were saved now, with an agent's other policies, kept current while
// the policy is edited.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, field, formError, confirmDialog, badge, loading, errorBox, uid, statusBadge } from "../lib/dom.js";
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

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/** The preview is asked for this long after the last keystroke. */
const DEBOUNCE_MS = 400;
const MAX_SAMPLES = 12;

/** The tools an agent may call. */
function agentTools(agent) {
  const names = agent.spec.requiredTools.map((t) => t.name);
  for (const tool of Object.values(agent.spec.toolUrlMappings || {})) if (!names.includes(tool)) names.push(tool);
  return names;
}

/** Sample calls from tools' capabilities (wildcards at their prefix, `*` as POST). */
function samplesFor(tools) {
  const calls = [];
  for (const tool of tools) {
    const caps = tool.capabilities.length ? tool.capabilities : [{ method: "GET", path: "/" }, { method: "POST", path: "/" }];
    for (const cap of caps) {
      const path = cap.path.replace(/\*$/, "") || "/";
      calls.push({ tool: tool.name, method: cap.method === "*" ? "POST" : cap.method.toUpperCase(), path });
    }
  }
  return calls.slice(0, MAX_SAMPLES);
}

/**
 * The preview under the editor. `text()` is the editor's content; `update()` asks again (the
 * editor calls it on every change, debounced here; answers to older edits are dropped).
 */
function previewPanel(ctx, policy, text, tools, agents) {
  const bound = policy ? policy.used_by.map((a) => a.name) : [];
  const agentSelect = h("select", {},
    h("option", { value: "" }, "this policy alone"),
    agents.map((a) => h("option", { value: a.name, selected: a.name === bound[0] }, `${a.name}${bound.includes(a.name) ? " (bound)" : ""}`)));
  const toolsOf = () => {
    const agent = agents.find((a) => a.name === agentSelect.value);
    if (!agent) return tools;
    const names = agentTools(agent);
    return tools.filter((t) => names.includes(t.name));
  };
  let calls = samplesFor(toolsOf());
  const rows = h("tbody", {});
  const note = h("p", { class: "preview-note", "aria-live": "polite" });
  const against = h("p", { class: "hint" });
  let timer = null;
  let asked = 0;
  const decisionCells = [];

  const show = (answer) => {
    against.textContent = answer.agent
      ? `Decided against ${answer.agent}'s policies with this edit: ${answer.policies.join(", ")}.`
      : `Decided against this policy alone (${answer.policies.join(", ")}).`;
    answer.calls.forEach((call, i) => {
      const cell = decisionCells[i];
      if (!cell) return;
      const why = [call.reason];
      if (call.route) why.push(`route: ${call.route.name || "(unnamed)"}${call.route.defaultDuration ? `, ${call.route.defaultDuration}` : ""}`);
      if (call.capability) why.unshift(`capability ${call.capability}`);
      mount(cell.decision, statusBadge(call.decision));
      cell.decision.dataset.decision = call.decision;
      mount(cell.why, why.join("; "));
    });
  };

  const ask = async () => {
    const mine = ++asked;
    const body = { spec: text(), calls };
    if (agentSelect.value) body.agent = agentSelect.value;
    if (policy) body.name = policy.name;
    if (!body.calls.length) {
      note.textContent = "Add a call to see its decision.";
      return;
    }
    note.textContent = "Previewing…";
    try {
      const answer = await api.post("/policies/preview", body);
      if (mine !== asked) return;
      note.textContent = "";
      show(answer);
    } catch (failure) {
      if (mine !== asked) return;
      note.textContent = `The preview waits for a valid policy: ${failure.message}`;
      for (const cell of decisionCells) {
        mount(cell.decision, "—");
        delete cell.decision.dataset.decision;
      }
    }
  };
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(ask, DEBOUNCE_MS);
  };
  ctx.onLeave(() => clearTimeout(timer));

  const drawRows = () => {
    decisionCells.length = 0;
    mount(rows, calls.map((call, i) => {
      const label = `call ${i + 1}`;
      const toolSelect = h("select", { "aria-label": `Tool of ${label}`, onchange: () => { call.tool = toolSelect.value; update(); } },
        tools.map((t) => h("option", { value: t.name, selected: t.name === call.tool }, t.name)));
      const method = h("select", { "aria-label": `Method of ${label}`, onchange: () => { call.method = method.value; update(); } },
        METHODS.map((m) => h("option", { value: m, selected: m === call.method }, m)));
      const path = h("input", { type: "text", value: call.path, "aria-label": `Path of ${label}`, spellcheck: "false", oninput: () => { call.path = path.value || "/"; update(); } });
      const cells = { decision: h("td", { "data-label": "Decision", class: "decision-cell" }, "—"), why: h("td", { "data-label": "Why", class: "small" }) };
      decisionCells.push(cells);
      return h("tr", { "data-row": String(i) },
        h("td", { "data-label": "Tool" }, toolSelect),
        h("td", { "data-label": "Method" }, method),
        h("td", { "data-label": "Path" }, path),
        cells.decision,
        cells.why,
        h("td", { "data-label": "" }, h("button", { type: "button", class: "link", "aria-label": `Remove ${label}`, onclick: () => { calls.splice(i, 1); drawRows(); update(); } }, "Remove")));
    }));
  };
  agentSelect.addEventListener("change", update);
  const addCall = h("button", { type: "button", disabled: !tools.length, onclick: () => {
    calls.push({ tool: (toolsOf()[0] || tools[0]).name, method: "GET", path: "/" });
    drawRows();
    update();
  } }, "Add call");
  const reset = h("button", { type: "button", onclick: () => {
    calls = samplesFor(toolsOf());
    drawRows();
    update();
  } }, "Samples from the tools");
  drawRows();
  const el = h("section", { class: "preview", "aria-labelledby": "preview-title" },
    h("h2", { id: "preview-title" }, "Preview"),
    h("p", { class: "hint" }, "What these calls would get if you saved the policy now, decided as the agent plane decides real calls. Nothing is saved."),
    field("Decide with", agentSelect, "An agent's other bound policies count too; without one, this policy alone."),
    tools.length
      ? h("table", { class: "table preview-table" },
        h("thead", {}, h("tr", {}, ["Tool", "Method", "Path", "Decision", "Why", ""].map((c) => h("th", { scope: "col" }, c)))),
        rows)
      : h("p", { class: "muted" }, "No tools yet: register one to preview its calls."),
    note,
    against,
    h("div", { class: "actions" }, addCall, reset));
  update();
  return { el, update };
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
  // The preview needs the tools and agents; without them the editor still works.
  const [tools, agents] = await Promise.all([api.get("/tools").catch(() => []), api.get("/agents").catch(() => [])]);
  const preview = previewPanel(ctx, policy, () => editor.value, tools, agents);
  editor.addEventListener("input", () => preview.update());
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
            preview.update();
          },
        }, "Discard changes"),
        h("a", { class: "button", href: "#/policies" }, "Back to policies"))),
    preview.el);
}
