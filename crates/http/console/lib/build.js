// A build of a Tier-2 agent's Python environment, followed until it ends: status, error and
// log (GET /builds/{id}, every 1.5 s while it is PENDING or BUILDING).

import { api, seg } from "./api.js";
import { h, mount, statusBadge, facts, loading, uid } from "./dom.js";
import { when } from "./format.js";

const FINISHED = new Set(["SUCCEEDED", "FAILED"]);

/**
 * buildPanel(ctx, buildId, {onDone(build), actions: () => [nodes]}) → {el, follow(buildId)}.
 * `follow` starts over with a (new or restarted) build.
 */
export function buildPanel(ctx, buildId, options = {}) {
  const titleId = uid("build");
  const el = h("section", { class: "panel build", "aria-labelledby": titleId });
  let current = buildId;
  let stop = null;
  let shown = "";
  let logOpen = null;

  const draw = (build) => {
    const finished = FINISHED.has(build.status);
    const open = logOpen ?? (!finished || build.status === "FAILED");
    const details = h("details", { open }, h("summary", {}, "Build log"), h("pre", { class: "build-log", tabindex: "0" }, build.log || "(nothing logged yet)"));
    details.addEventListener("toggle", () => {
      logOpen = details.open;
    });
    el.dataset.build = build.id;
    el.dataset.status = build.status;
    mount(el,
      h("h2", { id: titleId }, "Build ", statusBadge(build.status)),
      h("p", { class: "muted", role: "status" }, {
        PENDING: "Waiting to start.",
        BUILDING: "Checking the sources and preparing the Python environment. The first build of a set of requirements installs them, which takes a while; later ones reuse it.",
        SUCCEEDED: build.reused_environment ? "Built: the environment of the same requirements was reused. The agent's runtime starts with it." : "Built. The agent's runtime starts with the new environment.",
        FAILED: "The build failed; the agent keeps its previous runtime, if it had one. Fix the sources and deploy again, or rebuild.",
      }[build.status] || build.status),
      build.error ? h("p", { class: "form-error", role: "alert" }, build.error) : null,
      facts([["Build", h("code", {}, build.id)], ["Started", when(build.created_at)], ["Updated", when(build.updated_at)]]),
      details,
      options.actions ? h("div", { class: "actions" }, options.actions(build)) : null);
  };

  const check = async () => {
    const build = await api.get(`/builds/${seg(current)}`);
    const text = JSON.stringify(build);
    if (text !== shown) {
      shown = text;
      draw(build);
    }
    if (FINISHED.has(build.status) && stop) {
      stop();
      stop = null;
      if (options.onDone) options.onDone(build);
    }
  };

  const follow = (id) => {
    if (stop) stop();
    current = id;
    shown = "";
    logOpen = null;
    mount(el, loading("Loading the build…"));
    stop = ctx.poll(check, 1500);
    check().catch((error) => mount(el, h("p", { class: "form-error", role: "alert" }, `Could not read build ${id}: ${error.message}`)));
  };
  follow(buildId);
  return { el, follow };
}
