// Identity providers: the OIDC issuers whose end-user tokens agents accept.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, empty, field, formError, confirmDialog, dialog } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { listView } from "../lib/list.js";

function providerForm(ctx, done, existing) {
  const spec = existing ? existing.spec : { identityProvider: {} };
  return dialog(existing ? `Edit ${existing.name}` : "New identity provider", (close) => {
    const name = h("input", { type: "text", required: true, value: existing?.name || "", disabled: Boolean(existing), autocomplete: "off" });
    const host = h("input", { type: "text", required: true, value: spec.host || "", placeholder: "app.example.com" });
    const issuer = h("input", { type: "text", required: true, value: spec.identityProvider.issuer || "", placeholder: "https://example.okta.com/" });
    const jwks = h("input", { type: "url", required: true, value: spec.identityProvider.jwksUri || "", placeholder: "https://example.okta.com/oauth2/v1/keys" });
    const audiences = h("input", { type: "text", value: (spec.identityProvider.audiences || []).join(", ") });
    const claim = h("input", { type: "text", value: spec.userIDClaim || "email" });
    const domains = h("input", { type: "text", value: (spec.allowedDomains || []).join(", "), placeholder: "example.com" });
    const error = h("div", {});
    const list = (input) => input.value.split(",").map((v) => v.trim()).filter(Boolean);
    return h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.replaceChildren();
        try {
          const saved = await api.post("/identity-providers", {
            name: existing?.name || name.value.trim(),
            spec: {
              host: host.value.trim(),
              identityProvider: { issuer: issuer.value.trim(), jwksUri: jwks.value.trim(), audiences: list(audiences) },
              userIDClaim: claim.value.trim(),
              allowedDomains: list(domains),
            },
          });
          ctx.toast(`Saved ${saved.name}`);
          close(saved);
          done();
        } catch (failure) {
          error.replaceChildren(formError(failure.message));
        }
      },
    },
    field("Name", name),
    field("Host", host, "The public host name client apps call."),
    field("Issuer", issuer, "Compared exactly with the token's iss (keep a trailing slash if the issuer has one)."),
    field("JWKS URI", jwks),
    field("Audiences", audiences, "Comma-separated; empty means the audience is not checked."),
    field("User ID claim", claim),
    field("Allowed email domains", domains, "Comma-separated; empty allows any."),
    error,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close() }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Save")));
  });
}

export async function render(ctx) {
  const body = h("div", {});
  const reload = () => render(ctx);
  const view = listView({
    label: "Identity providers",
    columns: [
      { key: "name", label: "Name" },
      { key: "host", label: "Host", value: (p) => p.spec.host, render: (p) => p.spec.host },
      { key: "issuer", label: "Issuer", value: (p) => p.spec.identityProvider.issuer, render: (p) => h("code", { class: "wrap" }, p.spec.identityProvider.issuer) },
      { key: "claim", label: "User claim", value: (p) => p.spec.userIDClaim, render: (p) => p.spec.userIDClaim },
      { key: "domains", label: "Domains", value: (p) => p.spec.allowedDomains.join(", "), render: (p) => p.spec.allowedDomains.join(", ") || "any" },
      { key: "updated_at", label: "Updated", render: (p) => when(p.updated_at) },
      {
        key: "actions", label: "Actions", sortable: false,
        render: (p) => h("span", { class: "row-actions" },
          h("button", { type: "button", class: "link", "aria-label": `Edit ${p.name}`, onclick: () => providerForm(ctx, reload, p) }, "Edit"),
          h("button", {
            type: "button", class: "link danger-text", "aria-label": `Delete ${p.name}`,
            onclick: async () => {
              if (!(await confirmDialog(`Delete identity provider ${p.name}?`, "Agents that use it stop accepting its users' tokens.", "Delete"))) return;
              try {
                await api.del(`/identity-providers/${seg(p.name)}`);
                ctx.toast(`Deleted ${p.name}`);
                reload();
              } catch (error) {
                ctx.toast(error.message, "bad");
              }
            },
          }, "Delete")),
      },
    ],
    search: (p) => [p.name, p.spec.host, p.spec.identityProvider.issuer, p.spec.allowedDomains.join(" ")].join(" "),
    sort: { key: "name" },
    rowId: (p) => p.name,
    empty: () => empty("No identity providers", "Register the OIDC issuer of your app's users, so agents know who each request is for and act on their behalf with the right identity.",
      h("button", { type: "button", class: "primary", onclick: () => providerForm(ctx, reload) }, "New identity provider")),
  });
  mount(ctx.root, pageHeader("Identity", "OIDC issuers whose end-user tokens agents accept.", h("button", { type: "button", class: "primary", onclick: () => providerForm(ctx, reload) }, "New identity provider")), body);
  await ctx.load(body, () => api.get("/identity-providers"), (providers) => {
    body.append(view.el);
    view.update(providers);
  });
}
