// An agent's Logs tab: the tail of its log (the platform's notes on each turn, and a hosted
// agent's own output), refreshed every 2 s while "Follow" is on, newest at the bottom.

import { api, seg } from "../lib/api.js";
import { h, mount, uid, empty } from "../lib/dom.js";

const TAILS = ["100", "200", "500", "1000"];
const STREAMS = [["platform", "the platform's notes on each turn and build"], ["stdout", "the agent's output"], ["stderr", "the agent's errors"], ["supervisor", "starts, exits and restarts of its process"]];

function clock(text) {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return text;
  return at.toLocaleTimeString([], { hour12: false }) + `.${String(at.getMilliseconds()).padStart(3, "0")}`;
}

function lineItem(line) {
  const stream = line.stream || "platform";
  return h("li", { class: "log-line", "data-stream": stream },
    h("time", { datetime: line.timestamp, title: new Date(line.timestamp).toLocaleString() }, clock(line.timestamp)),
    h("span", { class: ["log-stream", `log-${stream}`] }, stream),
    h("span", { class: "log-msg" }, line.message));
}

export function logsTab(agent, ctx, container) {
  const followId = uid("follow");
  const follow = h("input", { type: "checkbox", id: followId, checked: true });
  const tail = h("select", {}, TAILS.map((n) => h("option", { value: n, selected: n === "200" }, `Last ${n} lines`)));
  const stream = h("select", {}, h("option", { value: "" }, "All streams"), STREAMS.map(([value]) => h("option", { value }, value)));
  const search = h("input", { type: "search", placeholder: "Search lines…", autocomplete: "off" });
  const refresh = h("button", { type: "button" }, "Refresh");
  tail.id = uid("tail");
  stream.id = uid("stream");
  search.id = uid("search");
  const note = h("p", { class: "muted small", role: "status" });
  const list = h("ol", { class: "log-lines", "aria-label": "Log lines", tabindex: "0" });
  let lines = [];
  let drawn = "";
  let fetchedAt = null;

  const draw = () => {
    const query = search.value.trim().toLowerCase();
    const shown = lines.filter((line) => (!stream.value || line.stream === stream.value)
      && (!query || line.message.toLowerCase().includes(query)));
    const text = JSON.stringify([shown, stream.value, query]);
    if (text !== drawn) {
      drawn = text;
      if (lines.length === 0) {
        mount(list, h("li", { class: "log-empty" }, empty("No log lines yet",
          `The platform notes each turn of ${agent.name} here (runs, tool calls by function and status, builds); a hosted agent's own output joins them. Send it a message from the Playground tab.`)));
      } else if (shown.length === 0) {
        mount(list, h("li", { class: "log-empty muted" }, "No line matches the stream and search."));
      } else {
        mount(list, shown.map(lineItem));
      }
      if (follow.checked) list.scrollTop = list.scrollHeight;
    }
    const at = fetchedAt ? fetchedAt.toLocaleTimeString([], { hour12: false }) : "";
    note.textContent = `${shown.length} of ${lines.length} lines · ${follow.checked ? `following, updated ${at}` : `paused at ${at}: turn Follow on or Refresh for newer lines`}`;
  };
  const fetchLogs = async () => {
    const data = await api.get(`/agents/${seg(agent.name)}/logs?tail=${tail.value}`);
    lines = data.logs || [];
    fetchedAt = new Date();
    draw();
  };
  const reload = () => fetchLogs().catch((error) => ctx.toast(error.message, "bad"));
  follow.addEventListener("change", () => {
    if (follow.checked) reload();
    else draw();
  });
  tail.addEventListener("change", reload);
  refresh.addEventListener("click", reload);
  stream.addEventListener("change", draw);
  search.addEventListener("input", draw);
  ctx.poll(async () => {
    if (follow.checked) await fetchLogs();
  }, 2000);

  const body = h("div", {});
  container.append(
    h("div", { class: "list-tools log-tools" },
      h("div", { class: "check-item" }, follow, h("label", { for: followId }, "Follow")),
      h("label", { class: "sr-only", for: tail.id }, "Lines"), tail,
      h("label", { class: "sr-only", for: stream.id }, "Stream"), stream,
      h("label", { class: "sr-only", for: search.id }, "Search log lines"), search,
      refresh),
    h("ul", { class: "legend", "aria-label": "Streams" }, STREAMS.map(([name, text]) => h("li", {}, h("span", { class: ["log-stream", `log-${name}`] }, name), " ", text))),
    body);
  return ctx.load(body, fetchLogs, () => {
    body.append(note, list);
    list.scrollTop = list.scrollHeight;
  });
}
