// Deploy an agent: source files, tools, a model and policies → POST /deploy, with a preview of
// how the platform will run it and the server's validation errors shown as they come. A Tier-2
// (Python) deploy then shows its build until it ends.

import { api, seg } from "../lib/api.js";
import { h, mount, pageHeader, field, formError, facts, uid, empty } from "../lib/dom.js";
import { buildPanel } from "../lib/build.js";

const HELLO_PROMPT = "You are a friendly assistant. Use the echo tool when asked to echo something.";

/** The hello-world agent: Tier 1 (no code), the starter kit's echo tool, playground model and policy. */
export const HELLO_WORLD = {
  agent_name: "hello-world",
  source_files: {},
  required_tools: ["echo-tool"],
  llm_configs: [{ provider: "playground", model: "playground" }],
  policies: ["echo-tool-allow"],
  system_prompt: HELLO_PROMPT,
};

/**
 * Deploys the hello-world agent unless it exists, seeding the starter kit first (seeding keeps
 * what already exists). Resolves with the agent's name.
 */
export async function deployHelloWorld() {
  const existing = await api.get(`/agents/${seg(HELLO_WORLD.agent_name)}`).catch((error) => {
    if (error.status === 404) return null;
    throw error;
  });
  if (!existing) {
    await api.post("/starter-kit");
    await api.post("/deploy", HELLO_WORLD);
  }
  return HELLO_WORLD.agent_name;
}

function checkboxes(legend, names, chosen, emptyText) {
  const boxes = names.map((name) => {
    const id = uid("cb");
    return h("div", { class: "check-item" }, h("input", { type: "checkbox", id, value: name, checked: chosen.includes(name) }), h("label", { for: id }, name));
  });
  return {
    el: h("fieldset", { class: "checks" }, h("legend", {}, legend), boxes.length ? boxes : h("p", { class: "muted" }, emptyText)),
    values: () => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
  };
}

export async function render(ctx) {
  const hello = ctx.query.get("template") === "hello-world";
  const body = h("div", {});
  mount(ctx.root, pageHeader("Deploy an agent", "Upload its code, choose what it may call and under which policies. Validation happens on the server; errors show here."), body);
  await ctx.load(body, () => Promise.all([api.get("/tools"), api.get("/model-providers"), api.get("/policies"), api.get("/identity-providers")]), ([tools, providers, policies, idps]) => {
    if (hello && !tools.some((t) => t.name === "echo-tool")) {
      body.append(h("div", { class: "banner info" }, "The hello-world agent uses the starter kit's echo tool, playground model and echo-tool-allow policy. ",
        h("button", {
          type: "button", class: "link",
          onclick: async () => {
            try {
              await api.post("/starter-kit");
              ctx.toast("Starter kit added");
              render(ctx);
            } catch (error) {
              ctx.toast(error.message, "bad");
            }
          },
        }, "Add the starter kit first")));
    }
    const files = new Map();
    const name = h("input", { type: "text", required: true, value: hello ? "hello-world" : "", autocomplete: "off", spellcheck: "false" });
    const fileInput = h("input", { type: "file", multiple: true });
    const fileList = h("ul", { class: "files", "aria-live": "polite" });
    const entry = h("select", {});
    const drawFiles = () => {
      const chosen = entry.value;
      mount(fileList, [...files.keys()].map((file) => h("li", {}, h("code", {}, file), " ", h("span", { class: "muted" }, `${files.get(file).length} bytes`), " ",
        h("button", { type: "button", class: "link small", "aria-label": `Remove ${file}`, onclick: () => { files.delete(file); drawFiles(); } }, "Remove"))));
      mount(entry, h("option", { value: "" }, "Detect"), [...files.keys()].map((file) => h("option", { value: file }, file)));
      entry.value = files.has(chosen) ? chosen : (files.has("agent.py") ? "agent.py" : "");
    };
    fileInput.addEventListener("change", async () => {
      for (const file of fileInput.files) files.set(file.name, await file.text());
      fileInput.value = "";
      drawFiles();
    });
    drawFiles();
    const prompt = h("textarea", { rows: "3", value: hello ? HELLO_PROMPT : "" });
    const toolChecks = checkboxes("Tools", tools.map((t) => t.name), hello ? HELLO_WORLD.required_tools : [], "No tools registered yet.");
    const policyChecks = checkboxes("Policies", policies.map((p) => p.name), hello ? HELLO_WORLD.policies : [], "No policies yet: every tool call of the agent will be denied.");
    const models = providers.flatMap((p) => (p.models || []).map((m) => [`${p.name}|${p.provider}|${m}`, `${p.name}: ${m}`]));
    const model = h("select", {}, h("option", { value: "" }, "No model"), models.map(([value, label]) => h("option", { value, selected: hello && label.endsWith(": playground") }, label)));
    const budget = h("input", { type: "number", min: "0", step: "0.01", inputmode: "decimal", placeholder: "no budget" });
    const idp = h("select", {}, h("option", { value: "" }, "None"), idps.map((p) => h("option", { value: p.name }, p.name)));
    const result = h("div", { "aria-live": "polite" });
    const deployButton = h("button", { type: "submit", class: "primary" }, "Deploy");
    const dirty = () => name.value !== (hello ? "hello-world" : "") || files.size !== 0;
    ctx.guard(() => dirty() && !deployButton.dataset.done);

    const request = () => {
      const body = {
        agent_name: name.value.trim(),
        source_files: Object.fromEntries(files),
        required_tools: toolChecks.values(),
        policies: policyChecks.values(),
        system_prompt: prompt.value,
      };
      if (entry.value) body.entry_point = entry.value;
      if (idp.value) body.identity_provider = idp.value;
      if (model.value) {
        const [providerName, provider, modelName] = model.value.split("|");
        const llm = { role: "default", provider, model: modelName, model_provider: providerName };
        if (budget.value !== "") llm.monthly_budget_usd = Number(budget.value);
        body.llm_configs = [llm];
      }
      return body;
    };
    const preview = async () => {
      mount(result);
      try {
        const plan = await api.post("/deploy/preview", request());
        mount(result, h("section", { class: "panel" }, h("h2", {}, "How it will run"),
          facts([["State", plan.state_label], ["Why", plan.short_reason], ["Execution", plan.advanced_details.execution_mode], ["Build", plan.advanced_details.build_required ? plan.advanced_details.build_profile : "none needed"], ["Details", plan.advanced_details.decision_reason]])));
      } catch (error) {
        mount(result, formError(error.message));
      }
    };
    body.append(h("form", {
      class: "form",
      onsubmit: async (event) => {
        event.preventDefault();
        mount(result);
        deployButton.disabled = true;
        try {
          const deployed = await api.post("/deploy", request());
          deployButton.dataset.done = "1";
          ctx.toast(`Deployed ${deployed.agent_name}: ${deployed.message || deployed.status}`);
          if (!deployed.build_id) {
            ctx.go(`#/agents/${seg(deployed.agent_name)}`);
            return;
          }
          // Tier 2: its environment builds now; stay and show it.
          const agentHref = `#/agents/${seg(deployed.agent_name)}`;
          const panel = buildPanel(ctx, deployed.build_id, {
            actions: (build) => [
              h("a", { class: "button", href: agentHref }, "Open the agent"),
              build.status === "SUCCEEDED" ? h("a", { class: "button primary", href: `${agentHref}/playground` }, "Open the playground") : null,
              h("a", { class: "button", href: `${agentHref}/logs` }, "Logs"),
            ],
          });
          mount(result, h("div", { class: "banner ok", role: "status" }, `Deployed ${deployed.agent_name} (${deployed.execution_mode}). ${deployed.decision_reason || ""}`), panel.el);
          deployButton.disabled = false;
          panel.el.scrollIntoView({ block: "start" });
        } catch (error) {
          mount(result, formError(error.message));
          deployButton.disabled = false;
        }
      },
    },
    field("Name", name, "Lowercase letters, digits and '-'; unique in the workspace."),
    field("Source files", fileInput, "Your agent's code (Python). Files stay on the server; the API never shows their contents."),
    fileList,
    field("Entry point", entry),
    field("System prompt", prompt),
    toolChecks.el,
    field("Model", model, models.length ? "The agent's default model, through the LLM gateway." : "No model providers yet: add one on the Models page, or the starter kit."),
    field("Monthly budget (USD)", budget, "Optional cap on the model's spend this month."),
    policyChecks.el,
    field("Identity provider", idp, "Optional: whose end-user tokens the agent accepts."),
    result,
    h("div", { class: "actions" }, deployButton, h("button", { type: "button", onclick: preview }, "Preview"), h("a", { class: "button", href: "#/agents" }, "Cancel"))));
    if (tools.length === 0 && !hello) body.prepend(empty("Tip: register tools first", "An agent can only call tools registered in the workspace.", h("a", { class: "button", href: "#/tools/new" }, "New tool")));
  });
}
