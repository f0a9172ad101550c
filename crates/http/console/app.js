// The console shell: session, layout, hash routing (#/runs/…, so the server needs no fallback
// route), live-update timers that stop when a page is left, and unsaved-change guards.

import { api, session, setCsrf, whenSignedOut } from "./lib/api.js";
import { h, mount, toast, errorBox, loading } from "./lib/dom.js";
import * as signin from "./pages/signin.js";
import * as dashboard from "./pages/dashboard.js";
import * as approvals from "./pages/approvals.js";
import * as runs from "./pages/runs.js";
import * as agents from "./pages/agents.js";
import * as deploy from "./pages/deploy.js";
import * as tools from "./pages/tools.js";
import * as policies from "./pages/policies.js";
import * as models from "./pages/models.js";
import * as identity from "./pages/identity.js";
import * as connectors from "./pages/connectors.js";
import * as settings from "./pages/settings.js";
import { forgetConversations } from "./pages/playground.js";

/** [pattern, render]; `:x` captures a path segment. */
const ROUTES = [
  ["/", dashboard.render],
  ["/approvals", approvals.renderApprovals],
  ["/consents", approvals.renderConsents],
  ["/runs", runs.renderList],
  ["/runs/:id", runs.renderRun],
  ["/agents", agents.renderList],
  ["/agents/new", deploy.render],
  ["/agents/:name", agents.renderAgent],
  ["/agents/:name/:tab", agents.renderAgent],
  ["/tools", tools.renderList],
  ["/tools/new", tools.renderForm],
  ["/tools/:name", tools.renderTool],
  ["/policies", policies.renderList],
  ["/policies/new", policies.renderEditor],
  ["/policies/:name", policies.renderEditor],
  ["/models", models.render],
  ["/identity", identity.render],
  ["/connectors", connectors.render],
  ["/settings", settings.render],
  ["/settings/:tab", settings.render],
];

const NAV = [
  ["Overview", [["/", "Dashboard"]]],
  ["Governance", [["/approvals", "Approvals", "approvals"], ["/consents", "Consents", "consents"], ["/runs", "Runs"], ["/policies", "Policies"]]],
  ["Platform", [["/agents", "Agents"], ["/tools", "Tools"], ["/models", "Models"], ["/identity", "Identity"]]],
  ["Settings", [["/connectors", "Approval connectors"], ["/settings", "Settings"]]],
];

const state = {
  session: null,
  leave: [],
  dirty: null,
  current: "",
  badges: {},
};

function parse(hash) {
  const raw = decodeURIComponent((hash || "#/").replace(/^#/, "")) || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/", query: new URLSearchParams(query) };
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, render] of ROUTES) {
    const want = pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((segment, i) => {
      if (segment.startsWith(":")) {
        params[segment.slice(1)] = parts[i];
        return true;
      }
      return segment === parts[i];
    });
    if (ok) return { render, params };
  }
  return null;
}

function stopPage() {
  for (const stop of state.leave.splice(0)) {
    try {
      stop();
    } catch {
      // A page's cleanup failing must not stop navigation.
    }
  }
  state.dirty = null;
}

/** Runs `task` now and then every `ms` while the page is shown and the tab is visible. */
function poll(task, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await task();
      } catch {
        // The page shows its own errors; polling carries on.
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  state.leave.push(stop);
  return stop;
}

/** Loads with a loading state, shows an error state with a retry on failure. */
async function load(container, fetcher, show) {
  mount(container, loading());
  try {
    const data = await fetcher();
    container.replaceChildren();
    show(data);
  } catch (error) {
    if (error.status === 401) return;
    mount(container, errorBox(error, () => load(container, fetcher, show)));
  }
}

function navItem([path, label, badgeKey]) {
  const current = state.current === path || (path !== "/" && state.current.startsWith(`${path}/`));
  return h("li", {},
    h("a", { href: `#${path}`, "aria-current": current ? "page" : null },
      label,
      badgeKey ? h("span", { class: "nav-badge", "data-badge": badgeKey, hidden: !state.badges[badgeKey], "aria-label": `${state.badges[badgeKey] || 0} pending` }, String(state.badges[badgeKey] || "")) : null));
}

function layout(main) {
  const nav = h("nav", { class: "sidebar", id: "sidebar", "aria-label": "Console" },
    NAV.map(([section, items]) => h("div", { class: "nav-section" },
      h("h2", {}, section),
      h("ul", {}, items.map(navItem)))));
  const menu = h("button", {
    type: "button", class: "menu-button", "aria-controls": "sidebar", "aria-expanded": "false",
    onclick: () => {
      const open = document.body.classList.toggle("nav-open");
      menu.setAttribute("aria-expanded", String(open));
    },
  }, "Menu");
  const who = state.session;
  // A person signed in with single sign-on by name; a key by its name.
  const person = who.person;
  const top = h("header", { class: "topbar" },
    menu,
    h("a", { class: "brand", href: "#/" }, h("img", { src: "/console/icon.svg", alt: "", width: "22", height: "22" }), "RunAgents"),
    h("div", { class: "who" },
      h("span", { class: "workspace", title: "Workspace" }, who.workspace),
      person
        ? h("span", { class: "muted key-name person", title: [person.email || person.subject, ...(person.groups.length ? [`groups: ${person.groups.join(", ")}`] : [])].join("\n") }, `${person.name} · ${who.role}`)
        : h("span", { class: "muted key-name" }, `${who.key_name} · ${who.role}`),
      h("button", { type: "button", class: "link", onclick: signOut }, "Sign out")));
  return h("div", { class: "shell" }, top, nav, main);
}

async function refreshBadges() {
  try {
    const [requests, consents] = await Promise.all([
      api.get("/approvals/requests"),
      api.get("/runs?status=PAUSED_CONSENT"),
    ]);
    state.badges.approvals = requests.length;
    state.badges.consents = consents.length;
    for (const el of document.querySelectorAll("[data-badge]")) {
      const count = state.badges[el.dataset.badge] || 0;
      el.textContent = count ? String(count) : "";
      el.hidden = !count;
      el.setAttribute("aria-label", `${count} pending`);
    }
  } catch {
    // Badges are a hint; the pages show errors.
  }
}

async function route() {
  const { path, query } = parse(location.hash);
  if (!state.session) return;
  stopPage();
  document.body.classList.remove("nav-open");
  state.current = path;
  const main = h("main", { id: "main", tabindex: "-1" });
  mount(document.getElementById("app"), h("a", { class: "skip", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"), layout(main));
  const found = match(path);
  const ctx = {
    root: main,
    params: found ? found.params : {},
    query,
    session: state.session,
    poll,
    load,
    toast,
    refreshBadges,
    onLeave: (fn) => state.leave.push(fn),
    /** `isDirty()` is asked before leaving the page. */
    guard: (isDirty) => {
      state.dirty = isDirty;
    },
    go: (hash) => {
      location.hash = hash;
    },
  };
  if (!found) {
    main.append(h("h1", {}, "Not found"), h("p", {}, "No console page lives at this address. "), h("a", { href: "#/" }, "Go to the dashboard"));
    return;
  }
  try {
    await found.render(ctx);
  } catch (error) {
    if (error.status !== 401) mount(main, errorBox(error, route));
  }
  const heading = main.querySelector("h1");
  if (heading && state.navigated) heading.focus({ preventScroll: true });
  state.navigated = true;
  refreshBadges();
}

let lastHash = location.hash;
window.addEventListener("hashchange", () => {
  if (state.dirty && state.dirty() && !window.confirm("You have unsaved changes. Leave this page and discard them?")) {
    history.replaceState(null, "", lastHash || "#/");
    return;
  }
  lastHash = location.hash;
  route();
});
window.addEventListener("beforeunload", (event) => {
  if (state.dirty && state.dirty()) {
    event.preventDefault();
    event.returnValue = "";
  }
});

function showSignIn(message) {
  stopPage();
  state.session = null;
  forgetConversations();
  setCsrf("");
  mount(document.getElementById("app"), signin.render(message, async (key) => {
    const started = await session.signIn(key);
    begin(started);
  }));
}

/**
 * Sessions end after a while without activity (the server's idle timeout). What a person does
 * (keys, clicks, scrolling) refreshes the session at most once a minute; background polling
 * does not, so a console left open alone still signs itself out.
 */
const activity = { last: 0, refreshed: 0 };
for (const type of ["keydown", "pointerdown", "wheel", "touchstart"]) {
  window.addEventListener(type, () => {
    activity.last = Date.now();
  }, { capture: true, passive: true });
}
setInterval(async () => {
  if (!state.session || !state.session.idle_expires_at) return;
  if (activity.last <= activity.refreshed || Date.now() - activity.refreshed < 60000) return;
  activity.refreshed = Date.now();
  try {
    const refreshed = await session.refresh();
    state.session.idle_expires_at = refreshed.idle_expires_at;
  } catch (error) {
    if (error.status === 401) showSignIn(`You were signed out: ${error.message}`);
  }
}, 15000);

function begin(current) {
  state.session = current;
  activity.refreshed = Date.now();
  setCsrf(current.csrf_token);
  route();
  // The sidebar's approval and consent counts stay live on every page.
  if (!state.badgeTimer) {
    state.badgeTimer = setInterval(() => {
      if (state.session && !document.hidden) refreshBadges();
    }, 10000);
  }
}

async function signOut() {
  try {
    await session.signOut();
  } catch {
    // Signed out either way: the cookie is cleared or was already dead.
  }
  showSignIn("You are signed out.");
}

whenSignedOut((message) => {
  if (state.session) showSignIn(`You were signed out: ${message}`);
});

async function start() {
  try {
    begin(await session.current());
  } catch (error) {
    showSignIn(error.status === 401 ? "" : error.message);
  }
}

start();
