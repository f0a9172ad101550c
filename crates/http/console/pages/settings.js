// Settings, in tabs: API keys (list, create with the token shown once, revoke, rotate;
// revoking the key this browser signed in with signs it out on its next request; a key names
// its owner (subject) and the approver groups they hold, which decide who may decide a request
// routed to those groups), single sign-on for operators (an identity provider, its client and
// the groups that make admins; the client secret is write-only), and where approval requests go
// by default.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, statusBadge, field, formError, confirmDialog, dialog, copy, badge, tabList, loading, errorBox } from "../lib/dom.js";
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

const TABS = [["keys", "API keys"], ["sso", "Single sign-on"], ["approvals", "Approval delivery"]];

export async function render(ctx) {
  const tab = TABS.some(([id]) => id === ctx.params.tab) ? ctx.params.tab : "keys";
  const panel = h("div", { class: "tab-panel", role: "tabpanel", "aria-labelledby": `tab-${tab}`, tabindex: "0" });
  mount(ctx.root,
    pageHeader("Settings", `Workspace ${ctx.session.workspace}.`),
    tabList(TABS, tab, (id) => ctx.go(id === "keys" ? "#/settings" : `#/settings/${id}`)),
    panel);
  if (tab === "sso") await ssoTab(ctx, panel);
  else if (tab === "approvals") await approvalsTab(ctx, panel);
  else await keysTab(ctx, panel);
}

/** A section heading inside a tab, with its actions. */
function sectionHeader(title, text, ...actions) {
  return h("div", { class: "section-header" },
    h("div", {}, h("h2", {}, title), text ? h("p", { class: "subtitle" }, text) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

async function keysTab(ctx, panel) {
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
  mount(panel,
    sectionHeader("API keys", `Keys of workspace ${ctx.session.workspace}. A key is shown once, when it is created or rotated.`, h("button", { type: "button", class: "primary", onclick: () => createForm(ctx, reload) }, "New key")),
    body);
  await ctx.load(body, () => api.get("/auth/api-keys"), (keys) => {
    body.append(view.el);
    view.update(keys);
  });
}

/** Words (space or comma separated) from a text field. */
function words(text, separator = /[\s,]+/) {
  return text.split(separator).map((w) => w.trim()).filter(Boolean);
}

async function ssoTab(ctx, panel) {
  mount(panel, loading());
  let setting;
  let providers;
  try {
    [setting, providers] = await Promise.all([api.get("/settings/console-sso"), api.get("/identity-providers")]);
  } catch (error) {
    mount(panel, errorBox(error, () => ssoTab(ctx, panel)));
    return;
  }
  const admin = ctx.session.role === "admin";
  const intro = sectionHeader("Single sign-on",
    "Operators sign in with your identity provider (OpenID Connect, authorization code with PKCE). Members of the admin groups are admins; everyone else signs in as a member. Turning it off signs them all out.");
  if (!providers.length) {
    mount(panel, intro, empty("No identity provider yet",
      "Single sign-on uses an identity provider of this workspace for its issuer, signing keys and allowed email domains. Add one first.",
      h("a", { class: "button primary", href: "#/identity" }, "Identity providers")));
    return;
  }
  const configured = setting.configured;
  const input = (attrs) => h("input", { type: "text", autocomplete: "off", spellcheck: "false", disabled: !admin, ...attrs });
  const enabledId = "sso-enabled";
  const enabled = h("input", { type: "checkbox", id: enabledId, checked: configured ? setting.enabled : true, disabled: !admin });
  const provider = h("select", { required: true, disabled: !admin },
    providers.map((p) => h("option", { value: p.name, selected: configured && p.name === setting.identity_provider }, `${p.name} (${p.spec.identityProvider.issuer})`)));
  const clientId = input({ required: true, value: configured ? setting.client_id : "", placeholder: "runagents-console" });
  const secret = h("input", {
    type: "password", autocomplete: "new-password", disabled: !admin,
    placeholder: configured && setting.client_secret_set ? "stored; leave empty to keep it" : "none (a public client, PKCE only)",
  });
  const displayName = input({ value: configured ? setting.display_name : "", placeholder: "the identity provider's name" });
  const scopes = input({ value: configured ? setting.scopes.join(" ") : "openid email profile" });
  const groupsClaim = input({ value: configured ? setting.groups_claim : "groups" });
  const adminGroups = input({ value: configured ? setting.admin_groups.join(", ") : "", placeholder: "platform-admins" });
  // Discovered endpoints stay empty here, so saving discovers them again.
  const explicit = configured && !setting.discovered;
  const authorization = input({ type: "url", value: explicit ? setting.authorization_endpoint : "", placeholder: configured && setting.discovered ? `discovered: ${setting.authorization_endpoint}` : "discovered from the issuer" });
  const token = input({ type: "url", value: explicit ? setting.token_endpoint : "", placeholder: configured && setting.discovered ? `discovered: ${setting.token_endpoint}` : "discovered from the issuer" });
  const tokenAuth = h("select", { disabled: !admin },
    [["client_secret_post", "client_secret_post"], ["client_secret_basic", "client_secret_basic"]].map(([value, label]) =>
      h("option", { value, selected: configured && setting.token_endpoint_auth_method === value }, label)));
  const redirect = input({ type: "url", value: configured ? setting.redirect_uri : "", placeholder: setting.callback_url });
  const error = h("div", {});
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const form = h("form", {
    class: "form",
    onsubmit: async (event) => {
      event.preventDefault();
      error.replaceChildren();
      const body = {
        enabled: enabled.checked,
        identity_provider: provider.value,
        client_id: clientId.value.trim(),
        display_name: displayName.value.trim(),
        scopes: words(scopes.value),
        groups_claim: groupsClaim.value.trim(),
        admin_groups: words(adminGroups.value, /,/),
        authorization_endpoint: authorization.value.trim(),
        token_endpoint: token.value.trim(),
        token_endpoint_auth_method: tokenAuth.value,
        redirect_uri: redirect.value.trim(),
      };
      if (secret.value) body.client_secret = secret.value;
      try {
        const saved = await api.put("/settings/console-sso", body);
        secret.value = "";
        baseline = snapshot();
        ctx.toast(saved.enabled ? "Single sign-on saved" : "Single sign-on saved, turned off");
        ssoTab(ctx, panel);
      } catch (failure) {
        error.replaceChildren(formError(failure.message));
      }
    },
  });
  const controls = [enabled, provider, clientId, secret, displayName, scopes, groupsClaim, adminGroups, authorization, token, tokenAuth, redirect];
  const snapshot = () => JSON.stringify(controls.map((c) => (c.type === "checkbox" ? c.checked : c.value)));
  let baseline = snapshot();
  ctx.guard(() => snapshot() !== baseline);
  form.addEventListener("input", () => {
    status.textContent = snapshot() !== baseline ? "Unsaved changes." : "";
  });
  const remove = async () => {
    if (!(await confirmDialog("Remove single sign-on?", "The sign-in button goes away and everyone signed in with it is signed out. API keys keep working.", "Remove"))) return;
    try {
      await api.del("/settings/console-sso");
      baseline = snapshot();
      ctx.toast("Single sign-on removed");
      ssoTab(ctx, panel);
    } catch (failure) {
      error.replaceChildren(formError(failure.message));
    }
  };
  form.append(
    h("div", { class: "check-item" }, enabled, h("label", { for: enabledId }, "Offer it on the sign-in page (turned off, everyone signed in with it is signed out)")),
    field("Identity provider", provider, "Its issuer, signing keys (jwksUri), user id claim and allowed email domains apply to operators too."),
    field("Client ID", clientId, "The console's OAuth client at the provider; ID tokens must be issued for it (aud)."),
    field("Client secret", secret, "Stored encrypted and never shown again."),
    field("Button label", displayName, "The sign-in page says \"Sign in with …\"."),
    field("Scopes", scopes, "Space-separated; openid is always asked for."),
    field("Groups claim", groupsClaim, "The ID-token claim listing the person's groups."),
    field("Admin groups", adminGroups, "Comma-separated. Members of any of these are admins; everyone else is a member."),
    h("details", { class: "advanced", open: explicit || (configured && Boolean(setting.redirect_uri)) },
      h("summary", {}, "Endpoints and redirect"),
      field("Authorization endpoint", authorization, "Leave both endpoints empty to read them from the issuer's /.well-known/openid-configuration."),
      field("Token endpoint", token),
      field("Token endpoint authentication", tokenAuth),
      field("Redirect URI", redirect, `Empty for this server's callback: ${setting.callback_url}`)),
    error,
    status,
    admin ? h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, configured ? "Save single sign-on" : "Set up single sign-on"),
      configured ? h("button", { type: "button", class: "danger", onclick: remove }, "Remove") : null)
      : h("p", { class: "hint" }, "Only an admin can change single sign-on."));
  const callback = h("code", { class: "wrap" }, configured ? setting.callback_url : setting.callback_url);
  mount(panel,
    intro,
    configured
      ? h("p", { class: ["banner", setting.enabled ? "ok" : "warn"] }, setting.enabled
        ? `On: the sign-in page offers "Sign in with ${setting.display_name || setting.identity_provider}".`
        : "Off: operators sign in with API keys only.")
      : null,
    h("div", { class: "callback" }, h("span", {}, "Register this redirect URI with the provider: "), callback, " ",
      h("button", { type: "button", class: "link", onclick: async () => { await copy(setting.callback_url); ctx.toast("Redirect URI copied"); } }, "Copy")),
    form);
}

async function approvalsTab(ctx, panel) {
  mount(panel, loading());
  let defaults;
  try {
    defaults = await api.get("/approval-connectors/defaults");
  } catch (error) {
    mount(panel, errorBox(error, () => approvalsTab(ctx, panel)));
    return;
  }
  const mode = h("select", {},
    [["first_success", "First connector that delivers"], ["all", "Every connector"]].map(([value, label]) =>
      h("option", { value, selected: defaults.default_delivery_mode === value }, label)));
  const fallbackId = "defaults-fallback";
  const fallback = h("input", { type: "checkbox", id: fallbackId, checked: defaults.default_fallback_to_ui });
  const timeout = h("input", { type: "number", min: String(defaults.min_timeout_seconds), max: String(defaults.max_timeout_seconds), required: true, value: String(defaults.default_timeout_seconds) });
  const error = h("div", {});
  const snapshot = () => JSON.stringify([mode.value, fallback.checked, timeout.value]);
  let baseline = snapshot();
  ctx.guard(() => snapshot() !== baseline);
  const form = h("form", {
    class: "form",
    onsubmit: async (event) => {
      event.preventDefault();
      error.replaceChildren();
      try {
        const saved = await api.put("/approval-connectors/defaults", {
          default_delivery_mode: mode.value,
          default_fallback_to_ui: fallback.checked,
          default_timeout_seconds: Number(timeout.value),
        });
        timeout.value = String(saved.default_timeout_seconds);
        baseline = snapshot();
        ctx.toast("Approval delivery defaults saved");
      } catch (failure) {
        error.replaceChildren(formError(failure.message));
      }
    },
  },
  field("Deliver to", mode, "Where an approval request goes when its policy's route names no delivery of its own."),
  h("div", { class: "check-item" }, fallback, h("label", { for: fallbackId }, "Fall back to the console's queue when no connector delivers (fallbackToUI)")),
  field("Connector timeout (seconds)", timeout, `How long one delivery may take, ${defaults.min_timeout_seconds} to ${defaults.max_timeout_seconds}.`),
  error,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save defaults"), h("a", { class: "button", href: "#/connectors" }, "Approval connectors")));
  mount(panel,
    sectionHeader("Approval delivery", "Defaults for every approval request whose policy does not say otherwise. A request always stays in the console's queue whatever delivery does."),
    form);
}
