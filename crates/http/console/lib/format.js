// Small formatters shared by the pages.

import { h } from "./dom.js";

const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];

/** "3 min ago" / "in 2 h" for an RFC 3339 time; "—" when absent. */
export function ago(text, now = Date.now()) {
  if (!text) return "—";
  const at = Date.parse(text);
  if (Number.isNaN(at)) return text;
  const seconds = Math.round((now - at) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 5) return "just now";
  const [unit, size] = units.find(([, size]) => abs >= size) || units[3];
  const amount = Math.floor(abs / size);
  return seconds >= 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}

/** A <time> with the relative form shown and the exact time on hover. */
export function when(text) {
  if (!text) return "—";
  return h("time", { datetime: text, title: new Date(text).toLocaleString() }, ago(text));
}

export function usd(amount) {
  if (amount === null || amount === undefined) return "—";
  const value = Number(amount);
  return `$${value < 1 && value > 0 ? value.toFixed(4) : value.toFixed(2)}`;
}

/** The first characters of a long id, with the whole id on hover. */
export function shortId(id, length = 8) {
  if (!id) return "—";
  const text = id.length > length + 3 ? `${id.slice(0, length)}…` : id;
  return h("span", { class: "mono", title: id }, text);
}

export function plural(count, word, many = `${word}s`) {
  return `${count} ${count === 1 ? word : many}`;
}

export const RUN_STATUSES = ["RUNNING", "PAUSED", "PAUSED_APPROVAL", "PAUSED_CONSENT", "COMPLETED", "FAILED"];
export const TERMINAL = new Set(["COMPLETED", "FAILED"]);
