// Starts the real `runagents serve` on free ports with a temporary data directory, like
// tests/compat/conftest.py: waits for its "listening on" lines (never a sleep) and reads the
// bootstrap admin key from the data directory.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");
export const BIN = process.env.RUNAGENTS_BIN ? path.resolve(process.env.RUNAGENTS_BIN) : path.join(TARGET, "debug", "runagents");

export async function startServer() {
  const dir = mkdtempSync(path.join(tmpdir(), "runagents-console-"));
  const dataDir = path.join(dir, "data");
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("RUNAGENTS_")));
  env.RUST_LOG = "info";
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", dataDir], {
    env, stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  const found = {};
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join("\n")}`)), 30000);
    const read = (stream) => {
      let buffer = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        buffer += chunk;
        let at;
        while ((at = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          lines.push(line);
          for (const [marker, key] of [["operator API listening on ", "url"], ["agent plane listening on ", "agentUrl"]]) {
            const i = line.indexOf(marker);
            if (i >= 0) found[key] = line.slice(i + marker.length).match(/^[^\s",}]+/)[0];
          }
          if (found.url && found.agentUrl) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
    };
    read(child.stdout);
    read(child.stderr);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${lines.join("\n")}`));
    });
  });
  const key = readFileSync(path.join(dataDir, "bootstrap-admin.key"), "utf8").trim();
  return {
    url: found.url,
    agentUrl: found.agentUrl,
    key,
    lines,
    /** The operator API with the admin key: `api("POST", "/runs", {...})` → {status, body}. */
    async api(method, route, body, apiKey = key) {
      const response = await fetch(`${found.url}/api/v1${route}`, {
        method,
        headers: { "X-RunAgents-API-Key": apiKey, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (child.exitCode === null) {
        child.removeAllListeners("exit");
        child.kill("SIGTERM");
        await new Promise((resolve) => {
          const timer = setTimeout(() => { child.kill("SIGKILL"); resolve(); }, 5000);
          child.on("exit", () => { clearTimeout(timer); resolve(); });
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
