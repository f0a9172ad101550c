// DOM building without innerHTML: every piece of text goes in as a text node, so nothing the
// API returns can become markup. Also the shared page pieces: headers, states, dialogs, toasts.

/** h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (name === "checked" || name === "selected" || name === "disabled") {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A unique id for label/control pairs. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control: field("Name", h("input", {...}), "hint"). */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null);
}

export function pageHeader(title, subtitle, ...actions) {
  return h("header", { class: "page-header" },
    h("div", {}, h("h1", { tabindex: "-1" }, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function loading(text = "Loading…") {
  return h("div", { class: "state loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** An empty state: what is missing, why, and what to do. */
export function empty(title, text, ...actions) {
  return h("div", { class: "state empty" },
    h("h2", {}, title),
    text ? h("p", {}, text) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function errorBox(error, retry) {
  return h("div", { class: "state error", role: "alert" },
    h("h2", {}, "Could not load this"),
    h("p", {}, error && error.message ? error.message : String(error)),
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null);
}

/** An inline error under a form, or nothing. */
export function formError(message) {
  return message ? h("p", { class: "form-error", role: "alert" }, message) : null;
}

export function badge(text, kind) {
  return h("span", { class: ["badge", kind && `badge-${kind}`] }, text);
}

const statusKinds = {
  RUNNING: "info", COMPLETED: "ok", FAILED: "bad", PAUSED: "warn", PAUSED_APPROVAL: "warn",
  PAUSED_CONSENT: "warn", PENDING: "warn", APPROVED: "ok", REJECTED: "bad", EXPIRED: "muted",
  Running: "ok", Pending: "warn", Failed: "bad", Available: "ok", Ready: "ok",
  allow: "ok", deny: "bad", approval_required: "warn", no_policy: "muted",
  Active: "ok", "Near budget": "warn", "Budget reached": "bad", Uncapped: "muted",
  healthy: "ok", unhealthy: "bad", passed: "ok", failed: "bad", skipped: "muted", warning: "warn",
  BUILDING: "info", SUCCEEDED: "ok",
};
export function statusBadge(status) {
  const label = String(status || "unknown").replace(/_/g, " ");
  return badge(label, statusKinds[status] || "muted");
}

/** A key/value list. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) =>
    [h("dt", {}, k), h("dd", {}, v === "" || v === undefined || v === null ? "—" : v)]));
}

export function code(text) {
  return h("code", {}, text);
}

/** Copies text to the clipboard, with a fallback for non-secure contexts. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand && document.execCommand("copy");
    area.remove();
    return Boolean(ok);
  }
}

let toastRegion;
export function toast(message, kind = "ok") {
  if (!toastRegion) {
    toastRegion = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastRegion);
  }
  const note = h("div", { class: ["toast", `toast-${kind}`] }, message);
  toastRegion.append(note);
  setTimeout(() => note.remove(), kind === "bad" ? 8000 : 4000);
}

/**
 * A modal dialog (native <dialog>: focus trap and Escape for free). `build(close)` returns the
 * body; resolves with what `close(value)` was given (undefined on Escape).
 */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const el = h("dialog", { class: "dialog", "aria-labelledby": titleId });
    const close = (value) => {
      el.close();
      el.remove();
      resolve(value);
    };
    el.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(undefined);
    });
    el.append(h("h2", { id: titleId }, title), build(close));
    document.body.append(el);
    el.showModal();
  });
}

/** Asks before something that cannot be undone. Resolves true to go ahead. */
export function confirmDialog(title, text, action = "Delete", kind = "danger") {
  return dialog(title, (close) => h("div", {},
    h("p", {}, text),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => close(false) }, "Cancel"),
      h("button", { type: "button", class: kind, onclick: () => close(true), autofocus: true }, action)))).then(Boolean);
}

/** Tabs with arrow-key navigation; `tabs` is [[id, label]]. */
export function tabList(tabs, current, onSelect) {
  const list = h("div", { class: "tabs", role: "tablist" });
  const buttons = tabs.map(([id, label]) => h("button", {
    type: "button", role: "tab", id: `tab-${id}`, "aria-selected": String(id === current),
    tabindex: id === current ? "0" : "-1", onclick: () => onSelect(id),
  }, label));
  list.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const next = event.key === "ArrowRight" ? at + 1 : event.key === "ArrowLeft" ? at - 1 : null;
    if (next === null) return;
    event.preventDefault();
    const target = buttons[(next + buttons.length) % buttons.length];
    target.focus();
    target.click();
  });
  list.append(...buttons);
  return list;
}
