// Sign in with the workspace's single sign-on (when an identity provider is set up for
// operators: "Sign in with <provider>" goes through the provider and comes back with a session),
// or with a workspace API key. The key goes to /console/session once and is forgotten: the
// server answers with an HttpOnly session cookie that scripts cannot read. The workspace is
// `default` unless the address names one (`/?workspace=acme`).

import { session } from "../lib/api.js";
import { h, field, formError } from "../lib/dom.js";

/** The "Sign in with …" link, added once the server says single sign-on is on. */
function singleSignOn() {
  const slot = h("div", { class: "sso" });
  const workspace = new URLSearchParams(location.search).get("workspace") || "default";
  session.sso(workspace).then((button) => {
    if (!button || !button.enabled) return;
    slot.append(
      h("a", { class: "button primary sso-button", href: button.start_url }, `Sign in with ${button.label}`),
      h("p", { class: "divider" }, h("span", {}, "or with an API key")));
  }).catch(() => {
    // No button: the key form below still works.
  });
  return slot;
}

export function render(message, submit) {
  const input = h("input", {
    type: "password", name: "api_key", autocomplete: "off", spellcheck: "false",
    required: true, placeholder: "ra_ws_…",
  });
  const error = h("div", {});
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", {
    class: "signin-form",
    onsubmit: async (event) => {
      event.preventDefault();
      error.replaceChildren();
      button.disabled = true;
      button.textContent = "Signing in…";
      try {
        await submit(input.value.trim());
        input.value = "";
      } catch (failure) {
        error.replaceChildren(formError(failure.status === 401
          ? `That key was not accepted: ${failure.message}`
          : failure.message));
        button.disabled = false;
        button.textContent = "Sign in";
        input.focus();
      }
    },
  },
  field("API key", input, "A workspace key (ra_ws_…). The first start of the server saves an admin key in bootstrap-admin.key in its data directory."),
  error,
  button);
  setTimeout(() => input.focus(), 0);
  return h("main", { class: "signin", id: "main" },
    h("div", { class: "signin-card" },
      h("div", { class: "brand" }, h("img", { src: "/console/icon.svg", alt: "", width: "28", height: "28" }), "RunAgents"),
      h("h1", {}, "Sign in to the console"),
      message ? h("p", { class: "notice", role: "status" }, message) : null,
      singleSignOn(),
      form,
      h("p", { class: "hint" }, "The sign-in becomes a session cookie that ends after 60 minutes without activity (12 hours at most), when the key is revoked or rotated, or when single sign-on is turned off. The console never stores the key.")));
}
