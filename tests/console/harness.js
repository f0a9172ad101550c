// What every console test file shares: Debian's Chromium through playwright-core, a check that
// no page has a script error or a CSP violation, screenshots into target/console-screenshots/,
// and the steps of opening a page and signing in.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { TARGET } from "./server.js";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const SHOTS = path.join(TARGET, "console-screenshots");
export const TIMEOUT = 10000;

/** Starts Chromium. Playwright gives it a new, empty profile directory of its own. */
export async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Uncaught errors and CSP violations seen in any watched page go to `problems`. */
export function watcher(problems) {
  return (p) => {
    p.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    p.on("console", (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to/i.test(text)) problems.push(`csp: ${text}`);
    });
    p.setDefaultTimeout(TIMEOUT);
    return p;
  };
}

export async function shot(p, name) {
  // Toasts float over whatever is under them; the page is what the picture is for.
  await p.evaluate(() => document.querySelectorAll(".toast").forEach((toast) => toast.remove()));
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the page shown has loaded: a heading, no spinner, no error state. */
export async function loaded(p, what) {
  await p.locator("main h1").first().waitFor();
  await p.waitForFunction(() => !document.querySelector("main .state.loading"));
  const error = await p.locator("main .state.error").count();
  assert.equal(error, 0, `${what} shows an error: ${await p.locator("main .state.error").allTextContents()}`);
}

/** Loads the console at a page (a fresh load: in-page state such as a chat starts over). */
export async function open(server, p, hash) {
  await p.goto(`${server.url}/#${hash}`);
  await loaded(p, hash);
}

/** Moves to a page inside the loaded console, as its links do (in-page state stays). */
export async function go(p, hash) {
  await p.evaluate((target) => {
    location.hash = target;
  }, hash);
  await p.waitForFunction((target) => location.hash === `#${target}`, hash);
  await loaded(p, hash);
}

export async function signIn(server, p, key) {
  await p.goto(server.url);
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Sign in" }).click();
}
