// Approval connectors: where approval requests are delivered (webhook, Slack, Teams, Jira,
// PagerDuty), their test with each check, and the delivery activity log.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, badge, field, formError, confirmDialog, dialog, loading } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { listView } from "../lib/list.js";

const TYPES = [["webhook", "Webhook"], ["slack", "Slack"], ["teams", "Microsoft Teams"], ["jira", "Jira"], ["pagerduty", "PagerDuty"]];
const MASK = "********";

function headerRow(name = "", value = "") {
  const key = h("input", { type: "text", value: name, "aria-label": "Header name", placeholder: "Authorization" });
  const val = h("input", { type: value === MASK ? "text" : "password", value, "aria-label": "Header value", autocomplete: "new-password" });
  const row = h("div", { class: "header-row" }, key, val, h("button", { type: "button", class: "link", "aria-label": "Remove header", onclick: () => row.remove() }, "Remove"));
  row.read = () => [key.value.trim(), val.value];
  return row;
}

function checksView(report) {
  return h("div", { class: "checks-report", "data-status": report.status },
    h("p", {}, statusBadge(report.status), " ", `${report.connector_type} → ${report.endpoint}`),
    h("ul", { class: "rows" }, report.checks.map((c) => h("li", {},
      h("div", {}, statusBadge(c.status), " ", h("strong", {}, c.label)),
      h("div", { class: "row-end" }, c.message, c.duration_ms !== undefined ? h("span", { class: "muted" }, ` ${c.duration_ms} ms`) : null)))));
}

function connectorForm(ctx, done, existing) {
  return dialog(existing ? `Edit ${existing.name}` : "New approval connector", (close) => {
    const name = h("input", { type: "text", required: true, value: existing?.name || "", autocomplete: "off" });
    const type = h("select", {}, TYPES.map(([v, l]) => h("option", { value: v, selected: existing?.type === v }, l)));
    const endpoint = h("input", { type: "text", required: true, value: existing?.endpoint || "" });
    const endpointHint = h("p", { class: "hint" });
    const security = h("select", {}, [["strict", "strict (verify Slack's signature)"], ["compat", "compat"]].map(([v, l]) => h("option", { value: v, selected: existing?.slack_security_mode === v }, l)));
    const securityField = field("Slack security mode", security);
    const headers = h("div", { class: "headers" }, Object.entries(existing?.headers || {}).map(([k, v]) => headerRow(k, v)));
    const enabled = h("input", { type: "checkbox", id: "conn-enabled", checked: existing ? existing.enabled : true });
    const timeout = h("input", { type: "number", min: "1", max: "120", value: existing?.timeout_seconds || 10 });
    const error = h("div", {});
    const report = h("div", { "aria-live": "polite" });
    const sync = () => {
      endpointHint.textContent = {
        webhook: "The https URL that receives each request as JSON (signed with X-RunAgents-Signature).",
        slack: "The channel id, such as C0123456789; the bot token goes in the Authorization header.",
        teams: "The incoming webhook URL of the channel.",
        jira: "The Jira site URL; the project and credentials go in headers.",
        pagerduty: "The Events API URL; the routing key goes in a header.",
      }[type.value];
      securityField.hidden = type.value !== "slack";
    };
    type.addEventListener("change", sync);
    sync();
    const body = () => {
      const fields = {
        name: name.value.trim(), type: type.value, endpoint: endpoint.value.trim(),
        enabled: enabled.checked, timeout_seconds: Number(timeout.value) || undefined,
        headers: Object.fromEntries([...headers.children].map((row) => row.read()).filter(([k]) => k)),
      };
      if (type.value === "slack") fields.slack_security_mode = security.value;
      return fields;
    };
    return h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        try {
          const saved = existing ? await api.patch(`/approval-connectors/${seg(existing.id)}`, body()) : await api.post("/approval-connectors", body());
          ctx.toast(`Saved ${saved.name}`);
          close(saved);
          done();
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("Name", name),
    field("Type", type),
    h("div", {}, field("Endpoint", endpoint), endpointHint),
    securityField,
    h("fieldset", {}, h("legend", {}, "Headers"), h("p", { class: "hint" }, "Stored encrypted; shown masked. Keep ******** to keep a stored value."), headers,
      h("button", { type: "button", onclick: () => headers.append(headerRow()) }, "Add header")),
    h("div", { class: "check-item" }, enabled, h("label", { for: "conn-enabled" }, "Enabled")),
    field("Timeout (seconds)", timeout),
    error,
    report,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => close() }, "Cancel"),
      h("button", {
        type: "button",
        onclick: async () => {
          mount(report, loading("Testing…"));
          try {
            mount(report, checksView(await api.post("/approval-connectors/test", body())));
          } catch (failure) {
            mount(report, formError(failure.message));
          }
        },
      }, "Test settings"),
      h("button", { type: "submit", class: "primary" }, "Save connector")));
  });
}

export async function render(ctx) {
  const body = h("div", {});
  const testBox = h("div", { "aria-live": "polite" });
  const activityBox = h("section", { class: "panel", "aria-labelledby": "activity-title" });
  const reload = () => render(ctx);
  const test = async (connector) => {
    mount(testBox, loading(`Testing ${connector.name}…`));
    try {
      const report = await api.post(`/approval-connectors/${seg(connector.id)}/test`);
      mount(testBox, h("section", { class: "panel" }, h("h2", {}, `Test of ${connector.name}`), checksView(report)));
      loadActivity();
    } catch (error) {
      mount(testBox, formError(error.message));
    }
  };
  const view = listView({
    label: "Approval connectors",
    columns: [
      { key: "name", label: "Name" },
      { key: "type", label: "Type" },
      { key: "endpoint", label: "Endpoint", render: (c) => h("code", { class: "wrap" }, c.endpoint) },
      { key: "enabled", label: "Enabled", value: (c) => (c.enabled ? 1 : 0), render: (c) => (c.enabled ? badge("enabled", "ok") : badge("disabled", "muted")) },
      { key: "timeout_seconds", label: "Timeout", render: (c) => `${c.timeout_seconds} s` },
      {
        key: "actions", label: "Actions", sortable: false,
        render: (c) => h("span", { class: "row-actions" },
          h("button", { type: "button", class: "link", "aria-label": `Test ${c.name}`, onclick: () => test(c) }, "Test"),
          h("button", { type: "button", class: "link", "aria-label": `Edit ${c.name}`, onclick: () => connectorForm(ctx, reload, c) }, "Edit"),
          h("button", {
            type: "button", class: "link danger-text", "aria-label": `Delete ${c.name}`,
            onclick: async () => {
              if (!(await confirmDialog(`Delete connector ${c.name}?`, "Requests are no longer delivered to it. They stay in the console's queue.", "Delete"))) return;
              try {
                await api.del(`/approval-connectors/${seg(c.id)}`);
                ctx.toast(`Deleted ${c.name}`);
                reload();
              } catch (error) {
                ctx.toast(error.message, "bad");
              }
            },
          }, "Delete")),
      },
    ],
    search: (c) => [c.name, c.type, c.endpoint].join(" "),
    filters: [{ label: "Types", options: TYPES, match: (c, v) => c.type === v }],
    sort: { key: "name" },
    rowId: (c) => c.id,
    empty: () => empty("No approval connectors", "Approval requests always wait in the console's Approvals queue. A connector also delivers them to where your approvers are, with approve and reject buttons or signed links.",
      h("button", { type: "button", class: "primary", onclick: () => connectorForm(ctx, reload) }, "New connector")),
  });
  async function loadActivity() {
    try {
      const entries = await api.get("/approval-connectors/activity?limit=50");
      mount(activityBox, h("h2", { id: "activity-title" }, "Activity"),
        entries.length === 0 ? h("p", { class: "muted" }, "No deliveries or tests yet.") : h("ul", { class: "rows" }, entries.map((e) => h("li", {},
          h("div", {}, h("strong", {}, e.connector_name || "—"), " ", statusBadge(e.event), " ", e.message),
          h("div", { class: "row-end" }, e.request_id ? h("span", { class: "muted mono" }, e.request_id.slice(0, 16)) : null, when(e.timestamp))))));
    } catch (error) {
      mount(activityBox, h("h2", { id: "activity-title" }, "Activity"), formError(error.message));
    }
  }
  mount(ctx.root, pageHeader("Approval connectors", "Deliver approval requests to Slack, Teams, Jira, PagerDuty or a webhook.", h("button", { type: "button", class: "primary", onclick: () => connectorForm(ctx, reload) }, "New connector")), testBox, body, activityBox);
  await ctx.load(body, () => api.get("/approval-connectors"), (connectors) => {
    body.append(view.el);
    view.update(connectors);
  });
  await loadActivity();
  ctx.poll(loadActivity, 10000);
}
