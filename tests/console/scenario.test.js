// The operator console's end-to-end scenario (issue 8) as one test, in Debian's headless
// Chromium against a real `runagents serve`: sign in; deploy hello world from the dashboard;
// chat with it in the playground (a tool-call card, the answer, a follow-up in the same
// conversation); trigger a governed write (a tool pointing at an upstream this test serves, a
// policy that wants approval for POST, an agent bound to both) and see the approval card in the
// chat; find the request in the approvals queue and not among consents; approve it for this run;
// watch the run complete on its page; revoke the API key in use and be signed out.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer } from "./server.js";
import { launch, watcher, shot, loaded, go, signIn } from "./harness.js";

let server;
let browser;
let upstream;
const problems = [];
const watch = watcher(problems);
/** What reached the fake upstream: {method, url, body}. */
const seen = [];

before(async () => {
  server = await startServer();
  browser = await launch();
  upstream = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, body });
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ ok: true, entry: seen.length }));
    });
  });
  await new Promise((resolve) => upstream.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve()));
  assert.deepEqual(problems, [], "no script errors or CSP violations in any page");
});

/** Sends a message from the playground with the keyboard. */
async function say(page, text) {
  const box = page.getByLabel("Message");
  await box.fill(text);
  await box.press("Enter");
  await page.locator(".msg-user .msg-text", { hasText: text }).last().waitFor();
}

test("an operator deploys hello world, chats, approves a governed write for its run, watches it complete, and is signed out by revoking the key", async () => {
  const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
  // The person's own admin key (the bootstrap key stays the test's).
  const issued = await server.api("POST", "/auth/api-keys", { name: "operator", role: "admin" });
  assert.equal(issued.status, 201);
  const key = issued.body.token;

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: server.url });
  const page = watch(await context.newPage());

  // Sign in.
  await page.goto(server.url);
  await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
  await shot(page, "50-scenario-sign-in");
  await signIn(server, page, key);
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.getByText("operator · admin").waitFor();
  await loaded(page, "the dashboard");
  await shot(page, "51-scenario-dashboard");

  // Deploy hello world from the dashboard: the starter kit is seeded on the way.
  await page.getByRole("button", { name: "Deploy the hello-world agent", exact: true }).click();
  await page.getByRole("heading", { name: "hello-world" }).waitFor();
  await page.getByRole("tab", { name: "Playground", selected: true }).waitFor();
  const agent = await server.api("GET", "/agents/hello-world");
  assert.equal(agent.status, 200);
  assert.deepEqual([agent.body.spec.tier, agent.body.spec.executionMode, agent.body.spec.policies, agent.body.required_tools],
    [1, "NATIVE_LOOP", ["echo-tool-allow"], ["echo-tool"]]);
  assert.deepEqual(agent.body.llm_config, { provider: "playground", model: "playground" });

  // Chat: Shift+Enter is a new line, Enter sends.
  const box = page.getByLabel("Message");
  await box.fill("line one");
  await box.press("Shift+Enter");
  await box.type("line two");
  assert.equal(await box.inputValue(), "line one\nline two");
  assert.equal(await page.locator(".msg-user").count(), 0, "nothing sent yet");
  await say(page, "echo hello");
  const card = page.locator('[data-tool-call="echo-tool__echo"]');
  await card.locator(".badge").getByText("returned", { exact: true }).waitFor();
  assert.match(await card.locator(".tool-args").textContent(), /"message": "hello"/);
  assert.match(await card.locator(".tool-result").textContent(), /"reply": "hello"/);
  const reply = page.locator(".msg-agent").last();
  await reply.locator(".msg-text").getByText("The echo-tool__echo tool returned:").waitFor();
  await reply.locator(".msg-foot .badge").getByText("completed").waitFor();
  const firstRunLink = reply.getByRole("link", { name: /^Run / });
  const firstRun = (await firstRunLink.getAttribute("href")).replace("#/runs/", "");
  // A follow-up in the same conversation, with the earlier turn sent along.
  await say(page, "thanks");
  await page.locator(".msg-agent").nth(1).locator(".msg-text").getByText("You said: thanks").waitFor();
  await page.locator(".msg-agent").nth(1).locator(".msg-foot .badge").getByText("completed").waitFor();
  const runs = (await server.api("GET", "/runs?agent_id=hello-world")).body;
  assert.equal(runs.length, 2);
  assert.equal(new Set(runs.map((r) => r.conversation_id)).size, 1, "one conversation");
  assert.ok(runs.every((r) => r.user_id === "operator"), "the runs act for the signed-in key by default");
  const second = runs.find((r) => r.id !== firstRun);
  const events = (await server.api("GET", `/runs/${second.id}/events`)).body;
  const requested = events.find((e) => e.type === "INVOKE_REQUESTED");
  assert.deepEqual(requested.data.history.map((m) => m.role), ["user", "assistant"]);
  assert.equal(requested.data.history[0].content, "echo hello");
  await shot(page, "52-scenario-playground-echo");

  // The runs appear on the agent's Runs tab, as runs of the current deployment.
  await page.getByRole("tab", { name: "Runs" }).click();
  const current = page.getByRole("region", { name: "Runs of the current deployment" });
  await current.locator(`tr[data-row="${firstRun}"]`).waitFor();
  await current.locator(`tr[data-row="${second.id}"]`).waitFor();
  await shot(page, "53-scenario-agent-runs");
  // And its log tells the turns, labelled by stream.
  await page.getByRole("tab", { name: "Logs" }).click();
  await page.locator('.log-line[data-stream="platform"]').filter({ hasText: "turn started" }).first().waitFor();
  assert.equal(await page.getByLabel("Follow").isChecked(), true);
  await shot(page, "54-scenario-agent-logs");

  // A governed write: a tool on an upstream this test serves, a policy asking a person for
  // its POSTs, and a Tier-1 agent bound to both, each made from its form.
  await go(page, "/tools/new");
  await page.getByLabel("Name").fill("ledger");
  await page.getByLabel("Description").fill("The books");
  await page.getByLabel("Base URL").fill(upstreamUrl);
  await page.getByRole("button", { name: "Add capability" }).click();
  await page.getByLabel("Capability name").fill("append");
  await page.getByLabel("Method").selectOption("POST");
  await page.getByLabel("Path").fill("/entries");
  await page.getByRole("button", { name: "Create tool" }).click();
  await page.getByRole("heading", { name: "ledger" }).waitFor();

  await go(page, "/policies/new");
  await page.getByLabel("Policy document").fill([
    "name: ledger-guarded",
    "spec:",
    "  policies:",
    "    - permission: approval_required",
    "      operations: [POST]",
    `      resource: ${upstreamUrl}/*`,
    "",
  ].join("\n"));
  await page.getByRole("button", { name: "Create policy" }).click();
  await page.getByRole("heading", { name: "ledger-guarded" }).waitFor();

  await go(page, "/agents/new");
  await page.getByLabel("Name").fill("bookkeeper");
  await page.getByRole("checkbox", { name: "ledger", exact: true }).check();
  await page.getByLabel("Model").selectOption({ label: "playground-llm: playground" });
  await page.getByRole("checkbox", { name: "ledger-guarded", exact: true }).check();
  await page.getByRole("button", { name: "Deploy", exact: true }).click();
  await page.getByRole("heading", { name: "bookkeeper" }).waitFor();
  await page.getByRole("tab", { name: "Flow" }).click();
  await page.locator('[data-tool="ledger"] [data-decision="approval_required"]').waitFor();
  await page.getByRole("tab", { name: "Playground" }).click();

  await say(page, "ledger__append 5");
  const held = page.locator('[data-tool-call="ledger__append"]');
  await held.locator(".badge").getByText("held", { exact: true }).waitFor();
  const approvalCard = page.locator('.approval-card');
  await approvalCard.getByText("Approval required", { exact: true }).waitFor();
  await page.locator(".msg-agent").last().locator(".msg-foot .badge").getByText("paused approval").waitFor();
  const requestId = await approvalCard.getAttribute("data-request");
  assert.ok(requestId, "the card names its request");
  assert.equal(seen.length, 0, "nothing reached the upstream before approval");
  const runHref = await approvalCard.getByRole("link", { name: "Open the run" }).getAttribute("href");
  const runId = runHref.replace("#/runs/", "");
  await shot(page, "55-scenario-playground-approval");

  // The request waits in the approvals queue, and is not a consent.
  await approvalCard.getByRole("link", { name: "Review in the approvals queue" }).click();
  await loaded(page, "the approvals queue");
  const request = page.locator(`[data-request="${requestId}"]`);
  await request.waitFor();
  assert.match(await request.getAttribute("class"), /highlight/);
  await request.getByText(`POST ${upstreamUrl}/entries`, { exact: true }).waitFor();
  await request.locator(".facts").getByText("operator", { exact: true }).waitFor();
  await page.locator('[data-badge="approvals"]').filter({ hasText: "1" }).waitFor();
  await shot(page, "56-scenario-approvals");
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Consents" }).click();
  await page.getByRole("heading", { name: "No runs are waiting for consent" }).waitFor();
  assert.equal(await page.locator(`[data-request="${requestId}"], [data-consent="${runId}"]`).count(), 0);
  await shot(page, "57-scenario-consents");

  // Approve for this run.
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Approvals" }).click();
  await request.waitFor();
  await request.getByLabel(/This run/).check();
  await request.getByLabel("Reason").fill("expected entry");
  await request.getByRole("button", { name: "Approve" }).click();
  await request.waitFor({ state: "detached" });
  await page.getByRole("heading", { name: "No pending approvals" }).waitFor();

  // The run completes; its page shows the decision and the final answer.
  await page.locator("#recent-title + ul li").filter({ hasText: "by operator" }).getByRole("link", { name: "Run" }).click();
  await loaded(page, "the run");
  await page.locator(".facts .badge").getByText("COMPLETED", { exact: true }).waitFor();
  const answer = page.getByRole("region", { name: "Final answer" });
  await answer.getByText('The ledger__append tool returned: {"ok":true,"entry":1}').waitFor();
  const timeline = page.getByRole("list", { name: "Events" });
  await timeline.locator(".event-approved").getByText("Approved by operator (run): expected entry").waitFor();
  await timeline.locator(".event-tool_called").waitFor();
  await timeline.locator(".event-completed").waitFor();
  assert.equal(page.url().endsWith(`#/runs/${runId}`), true);
  assert.deepEqual(seen, [{ method: "POST", url: "/entries", body: '{"message":"5"}' }], "the approved call was made once");
  await shot(page, "58-scenario-run-completed");

  // Back in the playground the chat followed the run to its end.
  await go(page, "/agents/bookkeeper/playground");
  await page.locator(".approval-card.decided").getByText("Decided: the call was made and the run completed.").waitFor();
  await page.locator(".msg-agent").last().locator(".msg-text").getByText("The ledger__append tool returned:").waitFor();
  await shot(page, "59-scenario-playground-after-approval");

  // Revoking the key this browser signed in with signs it out.
  await go(page, "/settings");
  const row = page.locator('tr[data-row="operator"]');
  await row.getByText("this session").waitFor();
  await row.getByRole("button", { name: "Revoke operator" }).click();
  await page.getByRole("dialog").getByText("you will be signed out").waitFor();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await page.getByText("You were signed out").waitFor();
  await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
  await shot(page, "60-scenario-signed-out");
  const state = await page.request.get(`${server.url}/console/session`);
  assert.equal(state.status(), 401);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
  await context.close();
  // Opening the console afresh also lands on the sign-in page.
  const fresh = watch(await (await browser.newContext()).newPage());
  await fresh.goto(server.url);
  await fresh.getByRole("heading", { name: "Sign in to the console" }).waitFor();
});
