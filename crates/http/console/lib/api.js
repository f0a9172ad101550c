// The operator API, called with the session cookie (set HttpOnly by /console/session; this code
// never sees the API key after sign-in). Mutations carry the session's CSRF token.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

let csrfToken = "";
export function setCsrf(token) {
  csrfToken = token || "";
}

/** Called when a request comes back 401: the session ended (signed out, key revoked). */
let onSignedOut = () => {};
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

async function request(method, url, body, contentType) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    throw new ApiError(`The server could not be reached (${error.message}).`, 0);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw failed(url, response, data);
  return data;
}

/** The error of a refused request; a 401 outside the session calls ends the session. */
function failed(url, response, data) {
  const message = data && data.error ? data.error : `${response.status} ${response.statusText}`;
  if (response.status === 401 && !url.startsWith("/console/session")) onSignedOut(message);
  const error = new ApiError(message, response.status);
  error.runId = response.headers.get("X-Run-ID") || "";
  return error;
}

/**
 * POSTs JSON to `/api/v1{path}` and answers the open `text/event-stream` response (read it with
 * `readFrames` from sse.js), or throws the API's error. `signal` aborts it.
 */
async function openStream(path, body, signal) {
  const url = `/api/v1${path}`;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { Accept: "text/event-stream", "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`The server could not be reached (${error.message}).`, 0);
  }
  if (!response.ok) {
    const text = await response.text();
    let data = null;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    throw failed(url, response, data);
  }
  return response;
}

/** `/api/v1{path}` */
export const api = {
  get: (path) => request("GET", `/api/v1${path}`),
  post: (path, body = {}) => request("POST", `/api/v1${path}`, body),
  put: (path, body) => request("PUT", `/api/v1${path}`, body),
  patch: (path, body) => request("PATCH", `/api/v1${path}`, body),
  del: (path) => request("DELETE", `/api/v1${path}`),
  /** A YAML document (policies accept `application/yaml`). */
  sendYaml: (method, path, text) => request(method, `/api/v1${path}`, text, "application/yaml"),
  stream: openStream,
};

export const session = {
  current: () => request("GET", "/console/session"),
  signIn: (apiKey) => request("POST", "/console/session", { api_key: apiKey }),
  signOut: () => request("DELETE", "/console/session"),
  /** Still here: the session's idle timeout starts again. */
  refresh: () => request("POST", "/console/session/refresh"),
  /** Whether `workspace` has single sign-on: `{enabled, label, start_url}`. */
  sso: (workspace) => request("GET", `/console/sso?workspace=${encodeURIComponent(workspace)}`),
};

/** `encodeURIComponent` for a path segment. */
export const seg = encodeURIComponent;
