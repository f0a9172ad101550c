// The operator console end to end: a real `runagents serve`, Debian's headless Chromium driven by
// playwright-core. One server and one browser for the whole file; the steps build on each other
// the way an operator's first session would. Every page is screenshotted into
// target/console-screenshots/.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./server.js";
import * as harness from "./harness.js";
import { toYaml } from "../../crates/http/console/lib/yaml.js";
import { sseParser } from "../../crates/http/console/lib/sse.js";

let server;
let browser;
let context;
let page;
/** Uncaught errors and CSP violations seen in any page: there must be none. */
const problems = [];
const watch = harness.watcher(problems);

async function newContext(viewport = { width: 1280, height: 860 }) {
  const ctx = await browser.newContext({ viewport, baseURL: server.url });
  return ctx;
}

const shot = (name, p = page) => harness.shot(p, name);
/** Opens a console page and waits until it has loaded (no spinner, no error state). */
const open = (hash, p = page) => harness.open(server, p, hash);
const signIn = (p, key) => harness.signIn(server, p, key);

before(async () => {
  server = await startServer();
  browser = await harness.launch();
  context = await newContext();
  page = watch(await context.newPage());
});

after(async () => {
  await browser?.close();
  await server?.stop();
  assert.deepEqual(problems, [], "no script errors or CSP violations in any page");
});

describe("the operator console", () => {
  test("serves its files with a strict CSP and no external origin", async () => {
    const response = await fetch(server.url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-security-policy"), /default-src 'none'; script-src 'self'/);
    assert.equal(response.headers.get("x-frame-options"), "DENY");
    const html = await response.text();
    assert.doesNotMatch(html, /https?:\/\//, "no CDN or other origin");
  });

  test("the playground's stream parser takes events cut anywhere", () => {
    const stream = 'data: {"type":"tool_call","tool":"a"}\n\n: a comment\r\ndata: {"type":"content",\r\ndata: "delta":"hi"}\r\n\nevent: x\ndata:[DONE]\n\n';
    for (const size of [1, 2, 3, 7, stream.length]) {
      const got = [];
      const parser = sseParser((data) => got.push(data));
      for (let at = 0; at < stream.length; at += size) parser.push(stream.slice(at, at + size));
      parser.end();
      assert.deepEqual(got, ['{"type":"tool_call","tool":"a"}', '{"type":"content",\n"delta":"hi"}', "[DONE]"], `chunks of ${size}`);
    }
    const last = [];
    const unterminated = sseParser((data) => last.push(data));
    unterminated.push("data: tail");
    unterminated.end();
    assert.deepEqual(last, ["tail"], "the last event counts without its blank line");
  });

  test("signs in with the bootstrap key, without keeping the key in the browser", async () => {
    await page.goto(server.url);
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await shot("00-sign-in");
    await page.getByLabel("API key").fill("ra_ws_wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    await signIn(page, server.key);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "ra_session");
    assert.ok(session, "a session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.ok(!session.value.includes(server.key), "the cookie does not hold the key");
    const visible = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join(" "));
    assert.ok(!visible.includes(server.key) && !visible.includes("ra_session"), "scripts see neither the key nor the session");
    await page.getByText("bootstrap-admin · admin").waitFor();
  });

  test("seeds the starter kit from the dashboard", async () => {
    await open("/");
    await shot("01-dashboard-empty");
    await page.getByRole("button", { name: "Add starter kit" }).click();
    await page.locator(".toast").filter({ hasText: "echo-tool" }).waitFor();
    await page.locator(".checklist li.done").filter({ hasText: "Add the starter kit" }).waitFor();
    const tools = await server.api("GET", "/tools");
    assert.deepEqual(tools.body.map((t) => t.name), ["echo-tool"]);
  });

  test("refuses a bad policy with the server's message, then saves a good one as YAML", async () => {
    await open("/policies/new");
    const editor = page.getByLabel("Policy document");
    await editor.fill("name: echo-guarded\nspec:\n  policies:\n    - permission: maybe\n");
    await page.getByRole("button", { name: "Create policy" }).click();
    await page.locator(".form-error").filter({ hasText: "unknown variant `maybe`" }).waitFor();
    await editor.fill("name: echo-guarded\nspec:\n  policies: [\n");
    await page.getByRole("button", { name: "Create policy" }).click();
    await page.locator(".form-error").filter({ hasText: "invalid YAML" }).waitFor();
    await shot("02-policy-validation-error");
    await editor.fill([
      "name: echo-guarded",
      "spec:",
      "  policies:",
      "    - permission: approval_required",
      "      operations: [POST]",
      `      resource: ${server.url}/echo*`,
      "    - permission: allow",
      "      operations: [GET]",
      `      resource: ${server.url}/*`,
      "",
    ].join("\n"));
    await page.getByRole("button", { name: "Create policy" }).click();
    await page.getByRole("heading", { name: "echo-guarded" }).waitFor();
    const stored = await server.api("GET", "/policies/echo-guarded");
    assert.equal(stored.body.spec.policies[0].permission, "approval_required");
    // The editor shows the stored policy as YAML again, unchanged.
    assert.match(await page.getByLabel("Policy document").inputValue(), /permission: approval_required/);
    // Leaving with unsaved changes asks first; staying keeps them.
    await page.getByLabel("Policy document").press("End");
    await page.getByLabel("Policy document").type("\n# draft");
    const asked = new Promise((resolve) => page.once("dialog", async (dialog) => {
      resolve(dialog.message());
      await dialog.dismiss();
    }));
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Tools" }).click();
    assert.match(await asked, /unsaved changes/);
    await page.getByRole("heading", { name: "echo-guarded" }).waitFor();
    assert.match(await page.getByLabel("Policy document").inputValue(), /# draft/);
    await page.getByRole("button", { name: "Discard changes" }).click();
    assert.doesNotMatch(await page.getByLabel("Policy document").inputValue(), /# draft/);
  });

  test("the YAML the policy editor shows reads back as the same policy", async () => {
    const specs = [
      { policies: [{ permission: "allow", operations: ["GET", "HEAD"], resource: "https://api.example.com/v1/*", tags: ["pii", "financial"] }] },
      { policies: [{ permission: "deny", operations: [], resource: "*" }, { permission: "approval_required", operations: ["POST"], resource: "http://127.0.0.1:9/a b?x=1&y=no", tags: [] }] },
      {
        policies: [{ permission: "approval_required", operations: ["PUT"], resource: "https://x.example.com/yes" }],
        approvals: [{ name: "finance", defaultDuration: "4h", toolIds: ["stripe"], approvers: { groups: ["on-call: finance", "true", "1.5"], match: "any" }, delivery: { connectors: [], fallbackToUI: true } }],
      },
    ];
    for (const [i, spec] of specs.entries()) {
      const name = `yaml-round-trip-${i}`;
      const created = await server.api("POST", "/policies", { name, spec });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const yaml = toYaml({ name, spec: created.body.spec });
      const response = await fetch(`${server.url}/api/v1/policies/${name}`, {
        method: "PUT", headers: { "X-RunAgents-API-Key": server.key, "Content-Type": "application/yaml" }, body: yaml,
      });
      const replaced = await response.json();
      assert.equal(response.status, 200, `${yaml}\n${JSON.stringify(replaced)}`);
      assert.deepEqual(replaced.spec, created.body.spec, yaml);
      assert.equal((await server.api("DELETE", `/policies/${name}`)).status, 200);
    }
  });

  test("deploys the hello-world agent from the form's template and shows each tool's policy decision", async () => {
    await open("/agents/new?template=hello-world");
    assert.equal(await page.getByLabel("Name").inputValue(), "hello-world");
    assert.equal(await page.getByRole("checkbox", { name: "echo-tool", exact: true }).isChecked(), true);
    assert.equal(await page.getByRole("checkbox", { name: "echo-tool-allow", exact: true }).isChecked(), true);
    assert.equal(await page.getByRole("checkbox", { name: "echo-guarded", exact: true }).isChecked(), false);
    assert.equal(await page.getByLabel("Model").locator("option:checked").textContent(), "playground-llm: playground");
    // The operator's own policy too: its approval_required wins over the kit's allow.
    await page.getByRole("checkbox", { name: "echo-guarded", exact: true }).check();
    // The server's validation speaks for itself.
    await page.getByLabel("Name").fill("Hello World");
    await page.getByRole("button", { name: "Deploy", exact: true }).click();
    await page.locator(".form-error").filter({ hasText: "invalid name" }).waitFor();
    await page.getByLabel("Name").fill("hello-world");
    await page.getByRole("button", { name: "Preview" }).click();
    await page.getByText("Ready instantly").waitFor();
    await shot("03-deploy-form");
    await page.getByRole("button", { name: "Deploy", exact: true }).click();
    await page.getByRole("heading", { name: "hello-world" }).waitFor();
    const deployed = await server.api("GET", "/agents/hello-world");
    assert.equal(deployed.body.spec.executionMode, "NATIVE_LOOP", "no code: the platform runs it itself");
    await page.getByRole("tab", { name: "Flow" }).click();
    const decision = page.locator('[data-tool="echo-tool"] [data-decision]');
    await decision.first().waitFor();
    assert.equal(await decision.first().getAttribute("data-decision"), "approval_required");
  });

  test("the playground shows what the server refuses", async () => {
    // An agent with no model cannot answer: the page says so, and so does the server.
    assert.equal((await server.api("POST", "/deploy", { agent_name: "mute", source_files: {}, required_tools: ["echo-tool"], policies: ["echo-tool-allow"] })).status, 201);
    await open("/agents/mute/playground");
    await page.getByRole("status").filter({ hasText: "This agent has no model" }).waitFor();
    await page.getByLabel("Message").fill("hello?");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator(".msg-agent .form-error").filter({ hasText: "has no model" }).waitFor();
    await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();
    assert.equal((await server.api("GET", "/runs?agent_id=mute")).body.length, 0, "a refused invoke makes no run");
    // Nothing typed, nothing sent.
    await page.getByLabel("Message").press("Enter");
    await page.getByText("Type a message first.").waitFor();
    await shot("37-playground-refused");
    // A new conversation starts empty.
    await page.getByRole("button", { name: "New conversation" }).click();
    assert.equal(await page.locator(".msg").count(), 0);
    assert.equal((await server.api("DELETE", "/agents/mute")).status, 200);
  });

  test("a Python agent's deploy shows its build until it ends: a failed one its error and log; the agent can be rebuilt", async () => {
    await open("/agents/new");
    await page.getByLabel("Name").fill("broken");
    await page.getByLabel("Source files").setInputFiles({ name: "agent.py", mimeType: "text/x-python", buffer: Buffer.from("def handler(request):\n    return {'response': 'x'\n") });
    await page.getByText("agent.py").first().waitFor();
    await page.getByRole("button", { name: "Deploy", exact: true }).click();
    const build = page.locator("section.build");
    await build.waitFor();
    await page.locator('section.build[data-status="FAILED"]').waitFor();
    await build.getByRole("alert").filter({ hasText: "syntax error in agent.py line" }).waitFor();
    assert.match(await build.locator(".build-log").textContent(), /build failed: syntax error/);
    await shot("38-deploy-build-failed");
    const buildId = await build.getAttribute("data-build");
    assert.equal((await server.api("GET", `/builds/${buildId}`)).body.status, "FAILED");

    await build.getByRole("link", { name: "Open the agent" }).click();
    await harness.loaded(page, "the agent");
    await page.getByRole("status").filter({ hasText: "Not running: build" }).waitFor();
    const panel = page.locator("section.build");
    await panel.locator('[data-status="FAILED"], .badge').first().waitFor();
    await page.locator('section.build[data-status="FAILED"]').waitFor();
    await panel.getByRole("button", { name: "Rebuild" }).click();
    await page.locator(".toast").filter({ hasText: "Rebuilding broken" }).waitFor();
    // A rebuild is a new build, followed in its place.
    await page.locator(`section.build[data-status="FAILED"]:not([data-build="${buildId}"])`).waitFor();
    const rebuilt = await panel.getAttribute("data-build");
    assert.equal((await server.api("GET", "/agents/broken")).body.status.buildId, rebuilt);
    await shot("39-agent-build");

    // The log tells both builds; Follow pauses and resumes the tail.
    await page.getByRole("tab", { name: "Logs" }).click();
    for (const id of [buildId, rebuilt]) {
      await page.locator('.log-line[data-stream="platform"]').filter({ hasText: `build ${id} failed: syntax error` }).waitFor();
    }
    await page.getByLabel("Follow").uncheck();
    await page.getByText(/paused at/).waitFor();
    await page.getByLabel("Search log lines").fill("no such line");
    await page.getByText("No line matches the stream and search.").waitFor();
    await page.getByLabel("Search log lines").fill("");
    await page.getByLabel("Follow").check();
    await page.getByText(/following, updated/).waitFor();
  });

  test("approves a blocked call for this run: it leaves the queue, never shows as a consent, and the run resumes", async () => {
    // The agent's governed write, as a deployed agent would make it on the agent plane.
    const credential = await server.api("POST", "/agents/hello-world/credentials");
    assert.equal(credential.status, 201);
    const run = await server.api("POST", "/runs", { agent_id: "hello-world", user_id: "alice@example.com", initial_message: "echo hi" });
    const blocked = await fetch(`${credential.body.tool_urls.TOOL_URL_ECHO_TOOL}/echo`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Run-ID": run.body.id }, body: JSON.stringify({ message: "hi" }),
    });
    assert.equal(blocked.status, 403);
    const refusal = await blocked.json();
    assert.equal(refusal.code, "APPROVAL_REQUIRED");

    await open("/approvals");
    const card = page.locator(`[data-request="${refusal.request_id}"]`);
    await card.waitFor();
    await card.getByText("alice@example.com").waitFor();
    await card.getByText(`POST ${server.url}/echo`, { exact: true }).waitFor();
    const hash = await card.locator(".hash code").getAttribute("title");
    assert.match(hash, /^[0-9a-f]{64}$/);
    await page.locator('[data-badge="approvals"]').filter({ hasText: "1" }).waitFor();
    await shot("04-approvals-pending");
    await card.getByLabel(/This run/).check();
    await card.getByLabel("Reason").fill("hello world demo");
    await card.getByRole("button", { name: "Approve" }).click();
    await card.waitFor({ state: "detached" });
    await page.getByRole("heading", { name: "No pending approvals" }).waitFor();
    await page.locator("#recent-title + ul").getByText("by bootstrap-admin").waitFor();
    await shot("05-approvals-after");

    // A request whose agent was deleted is stale: the queue hides it.
    await server.api("POST", "/deploy", { agent_name: "short-lived", source_files: {}, required_tools: ["echo-tool"], policies: ["echo-guarded"] });
    const doomed = await server.api("POST", "/agents/short-lived/credentials");
    const doomedRun = await server.api("POST", "/runs", { agent_id: "short-lived", user_id: "carol@example.com" });
    const stale = await fetch(`${doomed.body.tool_urls.TOOL_URL_ECHO_TOOL}/echo`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Run-ID": doomedRun.body.id }, body: "{}",
    });
    const staleId = (await stale.json()).request_id;
    assert.equal((await server.api("DELETE", "/agents/short-lived")).status, 200);
    const pending = await server.api("GET", "/approvals/requests");
    assert.ok(!pending.body.some((r) => r.id === staleId), "the API leaves it out");
    const withStale = await server.api("GET", "/approvals/requests?include_stale=true");
    assert.equal(withStale.body.find((r) => r.id === staleId)?.stale, true, "and marks it when asked");
    await open("/approvals");
    await page.getByRole("heading", { name: "No pending approvals" }).waitFor();
    assert.equal(await page.locator(`[data-request="${staleId}"]`).count(), 0);

    await open("/consents");
    await page.getByRole("heading", { name: "No runs are waiting for consent" }).waitFor();
    assert.equal(await page.locator("[data-consent]").count(), 0);
    assert.equal(await page.locator(`text=${refusal.request_id}`).count(), 0);

    await open(`/runs/${run.body.id}`);
    const timeline = page.getByRole("list", { name: "Events" });
    await timeline.locator(".event-approved").getByText("Approved by bootstrap-admin (run): hello world demo").waitFor();
    await timeline.locator(".event-tool_called").waitFor();
    await timeline.locator(".event-resumed").waitFor();
    await page.locator(".facts .badge").getByText("RUNNING", { exact: true }).waitFor();
    await shot("06-run-timeline");
    const exported = await page.request.get(await page.getByRole("link", { name: "Export NDJSON" }).getAttribute("href"));
    assert.equal(exported.status(), 200);
    const lines = (await exported.text()).trim().split("\n").map((line) => JSON.parse(line));
    assert.ok(lines.some((line) => line.type === "APPROVED" && line.user_id === "alice@example.com"));
  });

  test("a running run's page follows it live until it ends", async () => {
    const run = await server.api("POST", "/runs", { agent_id: "hello-world", user_id: "bob@example.com", initial_message: "live?" });
    await open(`/runs/${run.body.id}`);
    await page.getByText("Live: new events appear as they happen.").waitFor();
    await server.api("POST", `/runs/${run.body.id}/events`, { type: "AGENT_MESSAGE", actor: "hello-world", data: { message: "thinking out loud" } });
    await page.locator(".event-agent_message .event-text").getByText("thinking out loud").waitFor();
    assert.equal((await server.api("PATCH", `/runs/${run.body.id}`, { status: "COMPLETED" })).status, 200);
    await page.locator(".facts .badge").getByText("COMPLETED", { exact: true }).waitFor();
    await page.waitForFunction(() => !document.querySelector(".live")?.textContent);
    assert.equal(await page.locator(".event-agent_message").count(), 1, "each event once, however it arrived");
  });

  test("tools, model providers, identity providers and connectors are made from their forms", async () => {
    await open("/tools/new");
    await page.getByLabel("Name").fill("status-api");
    await page.getByLabel("Description").fill("Reads the platform's health");
    await page.getByLabel("Base URL").fill(server.url);
    await page.getByRole("button", { name: "Add capability" }).click();
    await page.getByLabel("Capability name").fill("health");
    await page.getByLabel("Path").fill("/healthz");
    await page.getByRole("button", { name: "Create tool" }).click();
    await page.getByRole("heading", { name: "status-api" }).waitFor();
    await page.getByRole("button", { name: "Test" }).click();
    await page.getByText("Reachable: HTTP 200").waitFor();
    await shot("35-tool-tested");

    await open("/models");
    await page.getByRole("button", { name: "New provider" }).click();
    let dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("local-ollama");
    await dialog.getByLabel("Provider").selectOption("ollama");
    await dialog.getByLabel("Models").fill("llama3.2, qwen2.5");
    await dialog.getByRole("button", { name: "Save provider" }).click();
    await page.locator('tr[data-row="local-ollama"]').waitFor();

    await open("/identity");
    await page.getByRole("button", { name: "New identity provider" }).first().click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("okta");
    await dialog.getByLabel("Host").fill("app.example.com");
    await dialog.getByLabel("Issuer").fill("https://example.okta.com/");
    await dialog.getByLabel("JWKS URI").fill("https://example.okta.com/oauth2/v1/keys");
    await dialog.getByLabel("Allowed email domains").fill("not a domain!");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.locator(".form-error").waitFor();
    await dialog.getByLabel("Allowed email domains").fill("example.com");
    await dialog.getByRole("button", { name: "Save" }).click();
    await page.locator('tr[data-row="okta"]').waitFor();

    await open("/connectors");
    await page.getByRole("button", { name: "New connector" }).first().click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("ops-hook");
    await dialog.getByLabel("Endpoint").fill("http://127.0.0.1:9/hook");
    await dialog.getByRole("button", { name: "Add header" }).click();
    await dialog.getByLabel("Header name").fill("X-Token");
    await dialog.getByLabel("Header value").fill("s3cret-value");
    await dialog.getByRole("button", { name: "Save connector" }).click();
    const row = page.locator("tr[data-row]").filter({ hasText: "ops-hook" });
    await row.waitFor();
    await row.getByRole("button", { name: "Test ops-hook" }).click();
    await page.locator(".checks-report").getByText("Connectivity").waitFor();
    await page.locator("#activity-title + ul").getByText("Connectivity check failed").waitFor();
    assert.equal(await page.getByText("s3cret-value").count(), 0, "header values are never shown");
    await shot("36-connector-tested");
  });

  test("every page renders", async () => {
    const runs = await server.api("GET", "/runs");
    const pages = [
      ["10-dashboard", "/"],
      ["11-approvals", "/approvals"],
      ["12-consents", "/consents"],
      ["13-runs", "/runs"],
      ["14-run", `/runs/${runs.body[0].id}`],
      ["15-agents", "/agents"],
      ["16-agent-overview", "/agents/hello-world"],
      ["17-agent-config", "/agents/hello-world/config"],
      ["18-agent-flow", "/agents/hello-world/flow"],
      ["19-agent-runs", "/agents/hello-world/runs"],
      ["20-agent-playground", "/agents/hello-world/playground"],
      ["21-agent-logs", "/agents/hello-world/logs"],
      ["21b-agent-python-overview", "/agents/broken"],
      ["22-deploy", "/agents/new"],
      ["23-tools", "/tools"],
      ["24-tool", "/tools/echo-tool"],
      ["25-tool-new", "/tools/new"],
      ["26-policies", "/policies"],
      ["27-policy", "/policies/echo-guarded"],
      ["28-models", "/models"],
      ["29-identity", "/identity"],
      ["30-connectors", "/connectors"],
      ["31-api-keys", "/settings"],
      ["31b-settings-sso", "/settings/sso"],
      ["31c-settings-approvals", "/settings/approvals"],
      ["32-not-found", "/nowhere"],
    ];
    for (const [name, hash] of pages) {
      await open(hash);
      await shot(name);
    }
    await page.getByText("No console page lives at this address.").waitFor();
    // Every agent tab is real: the playground takes a message.
    await open("/agents/hello-world/playground");
    await page.getByLabel("Message").waitFor();
    // Phone width: the sidebar folds into a menu, tables into cards.
    const phone = watch(await context.newPage());
    await phone.setViewportSize({ width: 390, height: 844 });
    for (const [name, hash] of [["40-phone-dashboard", "/"], ["41-phone-runs", "/runs"], ["42-phone-approvals", "/approvals"], ["43-phone-playground", "/agents/hello-world/playground"], ["44-phone-logs", "/agents/hello-world/logs"]]) {
      await open(hash, phone);
      await shot(name, phone);
    }
    await phone.getByRole("button", { name: "Menu" }).click();
    await phone.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Policies" }).click();
    await phone.getByRole("heading", { name: "Policies" }).waitFor();
    await phone.close();
  });

  test("lists filter, sort and search", async () => {
    await open("/runs");
    await page.getByLabel("Search runs").fill("no such run anywhere");
    await page.getByText("Nothing matches the search and filters.").waitFor();
    await page.getByLabel("Search runs").fill("alice");
    await page.locator("tr[data-row]").first().waitFor();
    await page.getByLabel("Statuses").selectOption("COMPLETED");
    await page.getByText("Nothing matches the search and filters.").waitFor();
    await page.getByLabel("Statuses").selectOption("");
    await open("/tools");
    await page.getByRole("button", { name: "Name" }).click();
    assert.equal(await page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort"), "descending");
  });

  test("rotating or revoking an API key signs its sessions out; the old key cannot sign in", async () => {
    await open("/settings");
    await page.getByRole("button", { name: "New key" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("temp-operator");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const tokenBox = page.getByRole("dialog").getByLabel("New API key");
    await tokenBox.waitFor();
    const token = await tokenBox.inputValue();
    assert.match(token, /^ra_ws_/);
    await shot("33-api-key-shown-once");
    await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
    await page.locator('tr[data-row="temp-operator"]').waitFor();

    // Another browser signs in with the new key.
    const other = await newContext();
    const second = watch(await other.newPage());
    await signIn(second, token);
    await second.getByRole("heading", { name: "Dashboard" }).waitFor();
    await second.getByText("temp-operator · member").waitFor();

    // Rotating the key ends its session; the new token signs in.
    await page.locator('tr[data-row="temp-operator"]').getByRole("button", { name: "Rotate temp-operator" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Rotate" }).click();
    const rotatedBox = page.getByRole("dialog").getByLabel("New API key");
    await rotatedBox.waitFor();
    const rotated = await rotatedBox.inputValue();
    assert.notEqual(rotated, token);
    await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
    // Its next request ends the session. The page's own polling may make that request before
    // the test does and leave the sign-in page up, so it moves on by its address, not its links.
    await second.evaluate(() => { location.hash = "/tools"; });
    await second.getByText("was rotated").waitFor();
    await second.getByLabel("API key").fill(token);
    await second.getByRole("button", { name: "Sign in" }).click();
    await second.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    await second.getByLabel("API key").fill(rotated);
    await second.getByRole("button", { name: "Sign in" }).click();
    await second.getByText("temp-operator · member").waitFor();

    await page.locator('tr[data-row="temp-operator"]').getByRole("button", { name: "Revoke temp-operator" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await page.locator('tr[data-row="temp-operator"]').waitFor({ state: "detached" });

    // Its session ends on its next request; signing in with it again fails.
    await second.evaluate(() => { location.hash = "/runs"; });
    await second.getByText("You were signed out").waitFor();
    await second.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await shot("34-signed-out-after-revoke", second);
    await second.getByLabel("API key").fill(rotated);
    await second.getByRole("button", { name: "Sign in" }).click();
    await second.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    await other.close();
  });

  test("a person's activity refreshes the session; background polling alone does not", async () => {
    const other = await newContext();
    const p = watch(await other.newPage());
    await p.clock.install();
    await signIn(p, server.key);
    await p.getByRole("heading", { name: "Dashboard" }).waitFor();
    const refreshes = [];
    p.on("request", (request) => {
      if (request.url().endsWith("/console/session/refresh")) refreshes.push(request);
    });
    // Minutes of polling with nobody there: no refresh.
    await p.clock.fastForward("03:00");
    assert.equal(refreshes.length, 0);
    // A key press: the session is refreshed within the minute, with the page's CSRF token.
    await p.keyboard.press("Shift");
    const refreshed = p.waitForResponse((response) => response.url().endsWith("/console/session/refresh"));
    await p.clock.fastForward("01:05");
    const response = await refreshed;
    assert.equal(response.status(), 200);
    assert.ok((await response.headerValue("set-cookie")).startsWith("ra_session="));
    assert.equal(refreshes.length, 1, "once");
    assert.ok(refreshes[0].headers()["x-csrf-token"]);
    // The re-issued cookie carries on.
    await p.evaluate(() => {
      location.hash = "#/settings";
    });
    await p.getByRole("heading", { name: "API keys" }).waitFor();
    await other.close();
  });

  test("signs out", async () => {
    await open("/");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();
    const state = await page.request.get(`${server.url}/console/session`);
    assert.equal(state.status(), 401);
    const api = await page.request.get(`${server.url}/api/v1/tools`);
    assert.equal(api.status(), 401);
  });
});
