// JSON → YAML, to show a policy as YAML in the editor. Parsing YAML is the server's job (POST
// and PUT /policies accept application/yaml), so the console carries no YAML parser.

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_ ./:*@+-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = String(value);
  // A plain scalar only when YAML could not read it as anything else; JSON's quoting is valid YAML.
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(" ") && !text.includes(": ") && !text.includes(" #")) {
    return text;
  }
  return JSON.stringify(text);
}

function isEmpty(value) {
  return (Array.isArray(value) && value.length === 0) || (value && typeof value === "object" && Object.keys(value).length === 0);
}

/** A short list of plain words reads best inline: `operations: [GET, POST]`. */
function inline(list) {
  if (!list.every((item) => item === null || ["string", "number", "boolean"].includes(typeof item))) return null;
  const items = list.map(scalar);
  if (items.some((item) => /[,[\]{}]/.test(item) && !item.startsWith('"'))) return null;
  const text = `[${items.join(", ")}]`;
  return text.length <= 60 ? text : null;
}

function emit(value, indent) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    return value.map((item) => {
      if (item && typeof item === "object" && !isEmpty(item)) {
        const inner = emit(item, indent + 2).replace(/^\s+/, "");
        return `${pad}- ${inner}`;
      }
      return `${pad}- ${isEmpty(item) ? JSON.stringify(item) : scalar(item)}`;
    }).join("\n");
  }
  if (value && typeof value === "object") {
    return Object.entries(value).map(([key, item]) => {
      const name = scalar(key);
      const flow = Array.isArray(item) && item.length ? inline(item) : null;
      if (flow) return `${pad}${name}: ${flow}`;
      if (item && typeof item === "object" && !isEmpty(item)) {
        return `${pad}${name}:\n${emit(item, indent + 2)}`;
      }
      return `${pad}${name}: ${isEmpty(item) ? JSON.stringify(item) : scalar(item)}`;
    }).join("\n");
  }
  return `${pad}${scalar(value)}`;
}

export function toYaml(value) {
  return `${emit(value, 0)}\n`;
}
