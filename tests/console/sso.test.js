// Single sign-on for operators and the policy preview, in Debian's headless Chromium against a
// real `runagents serve` and a fake OpenID Connect provider (oidc.js) that approves at once. The
// provider is reached as `localhost` and the console as `127.0.0.1`, so the way back from the
// provider is a cross-site navigation, as with a real one.
//
// An admin sets single sign-on up in Settings; the sign-in page then offers "Sign in with Corp
// SSO", which goes through the provider and lands on the dashboard with the person's name in the
// header; the policy editor's preview table follows the policy as it is typed; approval delivery
// defaults are saved from Settings; turning single sign-on off signs the person out.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./server.js";
import { startProvider } from "./oidc.js";
import { launch, watcher, shot, loaded, go, open, signIn } from "./harness.js";

const CLIENT_ID = "runagents-console";
const CLIENT_SECRET = "console-client-secret-never-shown";

let server;
let provider;
let browser;
let context;
let page;
const problems = [];
const watch = watcher(problems);

before(async () => {
  server = await startServer();
  provider = await startProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  provider.url = provider.url.replace("127.0.0.1", "localhost");
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: server.url });
  page = watch(await context.newPage());
  assert.equal((await server.api("POST", "/starter-kit")).status, 201);
  const idp = await server.api("POST", "/identity-providers", {
    name: "corp",
    spec: { host: "console.example.com", identityProvider: { issuer: provider.url, jwksUri: `${provider.url}/jwks` }, userIDClaim: "email", allowedDomains: ["example.com"] },
  });
  assert.equal(idp.status, 201, JSON.stringify(idp.body));
  const hello = await server.api("POST", "/deploy", { agent_name: "hello", source_files: {}, required_tools: ["echo-tool"], policies: ["echo-tool-allow"], llm_configs: [{ provider: "playground", model: "playground" }] });
  assert.equal(hello.status, 201, JSON.stringify(hello.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await provider?.stop();
  assert.deepEqual(problems, [], "no script errors or CSP violations in any page");
});

/** The decision shown for preview row `row` once it is `decision`. */
async function decisionIs(row, decision) {
  await page.locator(`.preview-table tr[data-row="${row}"] td.decision-cell[data-decision="${decision}"]`).waitFor();
}

test("an admin sets up single sign-on in Settings; the client secret is never shown again", async () => {
  await signIn(server, page, server.key);
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await open(server, page, "/settings/sso");
  await page.getByText("Register this redirect URI with the provider").waitFor();
  assert.match(await page.locator(".callback code").textContent(), /\/console\/oidc\/callback$/);
  await page.getByLabel("Identity provider").selectOption("corp");
  await page.getByLabel("Client ID").fill(CLIENT_ID);
  await page.getByLabel("Client secret").fill(CLIENT_SECRET);
  await page.getByLabel("Button label").fill("Corp SSO");
  await page.getByLabel("Admin groups").fill("platform-admins");
  await page.getByRole("button", { name: "Set up single sign-on" }).click();
  await page.getByText('On: the sign-in page offers "Sign in with Corp SSO"').waitFor();
  await shot(page, "70-settings-sso");
  assert.equal(await page.getByLabel("Client secret").inputValue(), "");
  assert.match(await page.getByLabel("Client secret").getAttribute("placeholder"), /stored/);
  const stored = await server.api("GET", "/settings/console-sso");
  assert.equal(stored.body.discovered, true, "endpoints discovered from the issuer");
  assert.equal(stored.body.authorization_endpoint, `${provider.url}/authorize`);
  assert.equal(stored.body.client_secret_set, true);
  assert.doesNotMatch(JSON.stringify(stored.body), new RegExp(CLIENT_SECRET));

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("link", { name: "Sign in with Corp SSO" }).waitFor();
  await shot(page, "71-sign-in-with-sso");
});

test("a person signs in with the provider and sees their name in the header", async () => {
  await page.getByRole("link", { name: "Sign in with Corp SSO" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await loaded(page, "dashboard");
  assert.equal(new URL(page.url()).origin, server.url, "back on the console");
  await page.locator(".topbar .person").filter({ hasText: "Alice Example · admin" }).waitFor();
  assert.match(await page.locator(".topbar .person").getAttribute("title"), /alice@example\.com/);
  assert.equal(provider.issued, 1);
  const cookies = await context.cookies(server.url);
  const session = cookies.find((c) => c.name === "ra_session");
  assert.ok(session && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
  assert.ok(!cookies.some((c) => c.name === "ra_oidc"), "the sign-in's binding cookie is gone");
  await shot(page, "72-signed-in-with-sso");
  // The person works the console like a key's session: a page that mutates takes the CSRF token.
  const who = await (await page.request.get(`${server.url}/console/session`)).json();
  assert.equal(who.person.name, "Alice Example");
  assert.equal(who.key_id, "");
});

test("the policy editor previews its decisions as the policy is typed", async () => {
  const before = (await server.api("GET", "/policies")).body.length;
  await open(server, page, "/policies/new");
  // The sample calls come from the tools: echo-tool's POST /echo. The template guards another
  // API, so the echo call is denied by default.
  const row = page.locator('.preview-table tr[data-row="0"]');
  await row.waitFor();
  assert.equal(await row.getByLabel("Tool of call 1").inputValue(), "echo-tool");
  assert.equal(await row.getByLabel("Method of call 1").inputValue(), "POST");
  assert.equal(await row.getByLabel("Path of call 1").inputValue(), "/echo");
  await decisionIs(0, "deny");
  const editor = page.getByLabel("Policy document");
  await editor.fill(["name: echo-writes", "spec:", "  policies:", "    - permission: allow", "      operations: [POST]", `      resource: ${server.url}/echo`, ""].join("\n"));
  await decisionIs(0, "allow");
  // Typing on: a rule that wants approval wins over allow.
  await editor.press("End");
  await editor.pressSequentially("    - permission: approval_required\n      operations: [POST]\n");
  await decisionIs(0, "approval_required");
  await row.getByText('needs approval: policy "echo-writes" rule 1').waitFor();
  // A call of another method: outside the tool's capabilities, denied.
  await page.getByRole("button", { name: "Add call" }).click();
  const added = page.locator('.preview-table tr[data-row="1"]');
  await added.getByLabel("Method of call 2").selectOption("DELETE");
  await decisionIs(1, "deny");
  await page.getByText("Decided against this policy alone (echo-writes).").waitFor();
  // With an agent, its other bound policies count: hello's echo-tool-allow allows the echo call,
  // the edit still wants approval for it (approval beats allow).
  await page.getByLabel("Decide with").selectOption("hello");
  await page.getByText("Decided against hello's policies with this edit: echo-tool-allow, echo-writes.").waitFor();
  await decisionIs(0, "approval_required");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "73-policy-preview");
  // A policy that does not parse yet leaves a note, not an error.
  await editor.fill("name: echo-writes\nspec:\n  policies: [\n");
  await page.locator(".preview-note").filter({ hasText: "The preview waits for a valid policy" }).waitFor();
  assert.equal(await page.locator("form .form-error").count(), 0);
  // Back to the template: with hello, its echo-tool-allow decides the echo call alone.
  await page.getByRole("button", { name: "Discard changes" }).click();
  await decisionIs(0, "allow");
  assert.equal((await server.api("GET", "/policies")).body.length, before, "previewing saves nothing");
});

test("approval delivery defaults are saved from Settings", async () => {
  await open(server, page, "/settings/approvals");
  await page.getByLabel("Deliver to").selectOption("all");
  await page.getByLabel("Connector timeout (seconds)").fill("30");
  await page.getByRole("button", { name: "Save defaults" }).click();
  await page.locator(".toast").filter({ hasText: "Approval delivery defaults saved" }).waitFor();
  const defaults = await server.api("GET", "/approval-connectors/defaults");
  assert.equal(defaults.body.default_delivery_mode, "all");
  assert.equal(defaults.body.default_timeout_seconds, 30);
  await shot(page, "74-settings-approvals");
});

test("turning single sign-on off signs the person out", async () => {
  const off = await server.api("PUT", "/settings/console-sso", { identity_provider: "corp", client_id: CLIENT_ID, enabled: false });
  assert.equal(off.status, 200);
  await go(page, "/runs").catch(() => {});
  await page.getByText("You were signed out: single sign-on was turned off").waitFor();
  await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
  await page.getByLabel("API key").waitFor();
  assert.equal(await page.getByRole("link", { name: /Sign in with/ }).count(), 0, "no button while it is off");
  await shot(page, "75-sso-turned-off");
  assert.equal((await page.request.get(`${server.url}/console/session`)).status(), 401);
});
