// API keys: list, create (the token is shown once), revoke, rotate. Revoking the key this
// browser signed in with signs it out on its next request. A key names its owner (subject) and
// the approver groups they hold, which decide who may decide a request routed to those groups.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, field, formError, confirmDialog, dialog, copy, badge } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { listView } from "../lib/list.js";

function showToken(ctx, title, issued) {
  return dialog(title, (close) => {
    const token = h("input", { type: "text", readonly: true, value: issued.token, class: "mono token", "aria-label": "New API key" });
    return h("div", {},
      h("p", { class: "banner warn" }, "Copy the key now: it is shown only this once. The platform keeps only its hash."),
      token,
      h("p", { class: "hint" }, `Send it as ${issued.header}: <key>, or as Authorization: Bearer <key>.`),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: async () => { await copy(issued.token); ctx.toast("Key copied"); } }, "Copy key"),
        h("button", { type: "button", class: "primary", onclick: () => close() }, "Done")));
  });
}

function keyStatus(key) {
  if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return "EXPIRED";
  return "Active";
}

function createForm(ctx, done) {
  return dialog("New API key", (close) => {
    const name = h("input", { type: "text", required: true, maxlength: "100", autocomplete: "off", placeholder: "ci" });
    const days = h("input", { type: "number", min: "1", max: "3650", placeholder: "never expires" });
    const subject = h("input", { type: "text", maxlength: "200", autocomplete: "off", placeholder: "the key's name" });
    const groups = h("input", { type: "text", autocomplete: "off", placeholder: "none" });
    const adminId = "key-admin";
    const admin = h("input", { type: "checkbox", id: adminId, disabled: ctx.session.role !== "admin" });
    const error = h("div", {});
    return h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        const body = { name: name.value.trim() };
        if (days.value) body.expiresInDays = Number(days.value);
        if (admin.checked) body.role = "admin";
        if (subject.value.trim()) body.subject = subject.value.trim();
        const named = groups.value.split(",").map((g) => g.trim()).filter(Boolean);
        if (named.length) body.groups = named;
        try {
          const issued = await api.post("/auth/api-keys", body);
          close(issued);
          await showToken(ctx, `Key ${issued.key.name} created`, issued);
          done();
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("Name", name, "What uses it, e.g. ci or alice-laptop."),
    field("Expires in (days)", days, "1 to 3650; empty for no expiry."),
    field("Owner", subject, "Who uses it, recorded as the approver of their decisions, e.g. alice@example.com."),
    field("Approver groups", groups, "Comma-separated, e.g. finance, sre. Only an admin can give groups it does not hold."),
    h("div", { class: "check-item" }, admin, h("label", { for: adminId }, "Admin (may create workspaces and admin keys)")),
    error,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close() }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Create key")));
  });
}

export async function render(ctx) {
  const body = h("div", {});
  const reload = () => render(ctx);
  const mine = ctx.session.key_id;
  const view = listView({
    label: "API keys",
    columns: [
      { key: "name", label: "Name", render: (k) => [k.name, k.id === mine ? [" ", badge("this session", "info")] : null] },
      { key: "role", label: "Role" },
      { key: "subject", label: "Owner", render: (k) => [k.subject, ...(k.groups || []).map((g) => [" ", badge(g, "info")])] },
      { key: "last4", label: "Key", render: (k) => h("code", {}, `${k.prefix}…${k.last4}`) },
      { key: "status", label: "Status", value: keyStatus, render: (k) => statusBadge(keyStatus(k)) },
      { key: "createdAt", label: "Created", render: (k) => when(k.createdAt) },
      { key: "lastUsedAt", label: "Last used", render: (k) => when(k.lastUsedAt) },
      { key: "expiresAt", label: "Expires", render: (k) => (k.expiresAt ? when(k.expiresAt) : "never") },
      {
        key: "actions", label: "Actions", sortable: false,
        render: (k) => h("span", { class: "row-actions" },
          h("button", {
            type: "button", class: "link", "aria-label": `Rotate ${k.name}`,
            onclick: async () => {
              if (!(await confirmDialog(`Rotate ${k.name}?`, "A new key is issued and the old one stops working at once. Sessions signed in with it end.", "Rotate", "primary"))) return;
              try {
                const issued = await api.post(`/auth/api-keys/${seg(k.id)}/rotate`);
                await showToken(ctx, `Key ${k.name} rotated`, issued);
                reload();
              } catch (error) {
                ctx.toast(error.message, "bad");
              }
            },
          }, "Rotate"),
          h("button", {
            type: "button", class: "link danger-text", "aria-label": `Revoke ${k.name}`,
            onclick: async () => {
              const self = k.id === mine;
              if (!(await confirmDialog(`Revoke ${k.name}?`, self ? "This is the key this browser signed in with: you will be signed out." : "Everything using this key loses access at once, including console sessions signed in with it.", "Revoke key"))) return;
              try {
                await api.del(`/auth/api-keys/${seg(k.id)}`);
                ctx.toast(`Revoked ${k.name}`);
                reload();
              } catch (error) {
                ctx.toast(error.message, "bad");
              }
            },
          }, "Revoke")),
      },
    ],
    search: (k) => [k.name, k.role, k.last4, k.id, k.subject, ...(k.groups || [])].join(" "),
    filters: [{ label: "Roles", options: [["admin", "admin"], ["member", "member"]], match: (k, v) => k.role === v }],
    sort: { key: "createdAt", desc: true },
    rowId: (k) => k.name,
    empty: () => empty("No API keys", "Create a key for the CLI, the SDK or CI."),
  });
  mount(ctx.root,
    pageHeader("API keys", `Keys of workspace ${ctx.session.workspace}. A key is shown once, when it is created or rotated.`, h("button", { type: "button", class: "primary", onclick: () => createForm(ctx, reload) }, "New key")),
    body);
  await ctx.load(body, () => api.get("/auth/api-keys"), (keys) => {
    body.append(view.el);
    view.update(keys);
  });
}
