// Sign in with a workspace API key. The key goes to /console/session once and is forgotten:
// the server answers with an HttpOnly session cookie that scripts cannot read.

import { h, field, formError } from "../lib/dom.js";

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
      form,
      h("p", { class: "hint" }, "The key is exchanged for a session cookie that ends after 60 minutes without activity (12 hours at most) and when the key is revoked or rotated. The console never stores the key.")));
}
