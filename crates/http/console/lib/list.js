// A list with search, filters and sortable columns, whose rows can be replaced (live updates)
// without losing what the person typed or chose. Narrow screens show each row as a card.

import { h, mount, uid } from "./dom.js";

/**
 * listView({
 *   label: "Tools",                          // caption, read by screen readers
 *   columns: [{key, label, value: row => sortable, render: row => node|text}],
 *   search: row => text to match,            // omit for no search box
 *   filters: [{label, options: [[value, text]] | (rows => [[value, text]]), match: (row, value) => bool,
 *              initial, onchange}],
 *   sort: {key, desc},                       // initial sort
 *   empty: () => node,                       // no rows at all
 *   rowId: row => key                        // for data-row (tests, anchors)
 * }) → {el, update(rows, {narrowed})}       // narrowed: the server already applied filters
 */
export function listView(options) {
  const state = { rows: null, query: "", filters: {}, sort: options.sort || null };
  const summary = h("p", { class: "list-summary", "aria-live": "polite" });
  const body = h("div", { class: "list-body" });
  const tools = h("div", { class: "list-tools" });
  if (options.search) {
    const id = uid("search");
    const input = h("input", {
      id, type: "search", placeholder: "Search…", autocomplete: "off",
      oninput: () => {
        state.query = input.value.trim().toLowerCase();
        draw();
      },
    });
    tools.append(h("div", { class: "field inline" }, h("label", { for: id, class: "sr-only" }, `Search ${options.label}`), input));
  }
  const dynamic = [];
  for (const filter of options.filters || []) {
    const id = uid("filter");
    const select = h("select", {
      id,
      onchange: () => {
        state.filters[filter.label] = select.value;
        if (filter.onchange) filter.onchange(select.value);
        draw();
      },
    }, h("option", { value: "" }, `All ${filter.label.toLowerCase()}`),
    typeof filter.options === "function" ? [] : filter.options.map(([value, text]) => h("option", { value }, text)));
    if (typeof filter.options === "function") dynamic.push([filter, select]);
    if (filter.initial) {
      select.value = filter.initial;
      state.filters[filter.label] = filter.initial;
    }
    tools.append(h("div", { class: "field inline" }, h("label", { for: id, class: "sr-only" }, filter.label), select));
  }
  const el = h("section", { class: "list", "aria-label": options.label }, tools.children.length ? tools : null, summary, body);

  function visible() {
    let rows = state.rows.filter((row) => {
      if (state.query && !String(options.search(row)).toLowerCase().includes(state.query)) return false;
      return (options.filters || []).every((filter) => {
        const value = state.filters[filter.label];
        return !value || filter.match(row, value);
      });
    });
    if (state.sort) {
      const column = options.columns.find((c) => c.key === state.sort.key);
      const value = column && (column.value || ((row) => row[column.key]));
      if (value) {
        rows = [...rows].sort((a, b) => {
          const x = value(a) ?? "";
          const y = value(b) ?? "";
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
          return state.sort.desc ? -order : order;
        });
      }
    }
    return rows;
  }

  function header(column) {
    if (column.sortable === false) return h("th", { scope: "col" }, column.label);
    const active = state.sort && state.sort.key === column.key;
    const direction = active ? (state.sort.desc ? "descending" : "ascending") : "none";
    return h("th", { scope: "col", "aria-sort": direction },
      h("button", {
        type: "button", class: "sort",
        onclick: () => {
          state.sort = { key: column.key, desc: active ? !state.sort.desc : false };
          draw();
        },
      }, column.label, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (state.sort.desc ? " ▼" : " ▲") : "")));
  }

  function draw() {
    if (state.rows === null) return;
    if (state.rows.length === 0) {
      summary.textContent = "";
      mount(body, state.narrowed
        ? h("p", { class: "muted no-match" }, "Nothing matches the search and filters.")
        : options.empty ? options.empty() : h("p", { class: "muted" }, "Nothing here yet."));
      return;
    }
    const rows = visible();
    summary.textContent = rows.length === state.rows.length
      ? `Showing ${rows.length}`
      : `Showing ${rows.length} of ${state.rows.length}`;
    if (rows.length === 0) {
      mount(body, h("p", { class: "muted no-match" }, "Nothing matches the search and filters."));
      return;
    }
    const table = h("table", { class: "table" },
      h("caption", { class: "sr-only" }, options.label),
      h("thead", {}, h("tr", {}, options.columns.map(header))),
      h("tbody", {}, rows.map((row) => h("tr", { "data-row": options.rowId ? options.rowId(row) : null },
        options.columns.map((column) => h("td", { "data-label": column.label },
          column.render ? column.render(row) : row[column.key] ?? "—"))))));
    mount(body, table);
  }

  return {
    el,
    update(rows, { narrowed = false } = {}) {
      const next = rows || [];
      // Live updates redraw only on change, so focus and scroll stay put while nothing moves.
      const text = JSON.stringify([narrowed, next]);
      if (text === state.text) return;
      state.text = text;
      state.rows = next;
      state.narrowed = narrowed;
      // Filters whose choices come from the rows (users, agents seen) follow them.
      for (const [filter, select] of dynamic) {
        // Before its first choices arrive, a dynamic filter holds its initial value in state.
        const chosen = select.value || state.filters[filter.label] || "";
        const choices = filter.options(next);
        mount(select, h("option", { value: "" }, `All ${filter.label.toLowerCase()}`), choices.map(([value, label]) => h("option", { value }, label)));
        select.value = choices.some(([value]) => value === chosen) ? chosen : "";
        state.filters[filter.label] = select.value;
      }
      draw();
    },
  };
}
