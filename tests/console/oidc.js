// A fake OpenID Connect provider for the console's single sign-on tests: a discovery document,
// an authorize endpoint that approves at once (as whoever `person` is) and redirects back with a
// code, a token endpoint that checks the code, PKCE and the client's credentials and answers an
// ID token signed ES256 with a key made here (node:crypto), and its JWKS.

import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import http from "node:http";

const b64 = (buffer) => Buffer.from(buffer).toString("base64url");

export async function startProvider({ clientId, clientSecret }) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "ec-1", use: "sig", alg: "ES256" };
  const grants = new Map();
  const provider = {
    url: "",
    person: { sub: "00u-alice", email: "alice@example.com", email_verified: true, name: "Alice Example", groups: ["platform-admins"] },
    /** How many ID tokens were issued. */
    issued: 0,
  };

  function idToken(claims) {
    const input = `${b64(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "ec-1" }))}.${b64(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64(signature)}`;
  }

  function json(response, status, body) {
    response.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    response.end(JSON.stringify(body));
  }

  const server = http.createServer((request, response) => {
    const url = new URL(request.url, provider.url);
    if (request.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return json(response, 200, {
        issuer: provider.url,
        authorization_endpoint: `${provider.url}/authorize`,
        token_endpoint: `${provider.url}/token`,
        jwks_uri: `${provider.url}/jwks`,
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_post"],
      });
    }
    if (request.method === "GET" && url.pathname === "/jwks") return json(response, 200, { keys: [jwk] });
    if (request.method === "GET" && url.pathname === "/authorize") {
      const q = url.searchParams;
      if (q.get("response_type") !== "code" || q.get("client_id") !== clientId || q.get("code_challenge_method") !== "S256") {
        response.writeHead(400);
        return response.end("bad authorize request");
      }
      const code = b64(randomBytes(12));
      grants.set(code, { nonce: q.get("nonce"), challenge: q.get("code_challenge"), redirectUri: q.get("redirect_uri") });
      const back = new URL(q.get("redirect_uri"));
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state"));
      response.writeHead(302, { Location: back.toString() });
      return response.end();
    }
    if (request.method === "POST" && url.pathname === "/token") {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        const form = new URLSearchParams(body);
        const grant = grants.get(form.get("code"));
        grants.delete(form.get("code"));
        const challenge = b64(createHash("sha256").update(form.get("code_verifier") || "").digest());
        if (!grant || form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret
          || form.get("redirect_uri") !== grant.redirectUri || challenge !== grant.challenge) {
          return json(response, 400, { error: "invalid_grant" });
        }
        const now = Math.floor(Date.now() / 1000);
        provider.issued += 1;
        return json(response, 200, {
          access_token: "fake-access-token",
          token_type: "Bearer",
          expires_in: 300,
          id_token: idToken({ ...provider.person, iss: provider.url, aud: clientId, nonce: grant.nonce, iat: now, exp: now + 300 }),
        });
      });
      return undefined;
    }
    response.writeHead(404);
    return response.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  provider.url = `http://127.0.0.1:${server.address().port}`;
  provider.stop = () => new Promise((resolve) => server.close(resolve));
  return provider;
}
