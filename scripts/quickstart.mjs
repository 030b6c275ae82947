#!/usr/bin/env node
/**
 * `npm run quickstart`: a tenant to play with on a running local MWS, and the commands to try it.
 *
 *   npm run quickstart                         # tenant "demo" on http://127.0.0.1:8787
 *   npm run quickstart -- chat --url http://127.0.0.1:9000
 *   npm run quickstart -- --json               # one JSON object instead of the instructions
 *   MWS_URL=http://127.0.0.1:9000 npm run quickstart   # the server's URL, when --url is not given
 *
 * Creates the tenant with accessControl "none", or reuses it when it exists (rotating its security token, since a
 * token is shown only once). ADMIN_TOKEN comes from the environment, else from ./.dev.vars. Safe to run again.
 * Any failure prints one line on stderr and exits with 1.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const DEFAULT_URL = 'http://127.0.0.1:8787';
const TENANT_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const BROWSER_EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'browser.html');

class QuickstartError extends Error {}
const fail = (message) => {
  throw new QuickstartError(message);
};

function readOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      options: { url: { type: 'string', default: process.env.MWS_URL ?? DEFAULT_URL }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
  } catch (err) {
    fail(`${err.message}; usage: npm run quickstart -- [tenant] [--url ${DEFAULT_URL}] [--json]`);
  }
  const { values, positionals } = parsed;
  const tenant = positionals[0] ?? 'demo';
  if (positionals.length > 1) fail(`one tenant name at most, got ${positionals.join(' ')}`);
  if (!TENANT_NAME.test(tenant)) fail(`"${tenant}" cannot be a tenant name: use a-z, 0-9 and "-", 1 to 63 characters`);
  let origin;
  try {
    origin = new URL(values.url).origin;
  } catch {
    fail(`--url "${values.url}" is not a URL; expected something like ${DEFAULT_URL}`);
  }
  return { origin, tenant, json: values.json, adminToken: readAdminToken() };
}

/** ADMIN_TOKEN from the environment, else from .dev.vars (what `npm run dev` reads) in the current directory. */
function readAdminToken() {
  const fromEnv = process.env.ADMIN_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  let vars = '';
  try {
    vars = readFileSync('.dev.vars', 'utf8');
  } catch {
    // No file: reported below.
  }
  const line = vars.split(/\r?\n/).find((l) => /^\s*ADMIN_TOKEN\s*=/.test(l));
  const value = line?.slice(line.indexOf('=') + 1).trim().replace(/^(['"])(.*)\1$/, '$2');
  if (value) return value;
  return fail('ADMIN_TOKEN is not set: export ADMIN_TOKEN=<the token the server was started with>, or put ADMIN_TOKEN=... in .dev.vars');
}

/** One call to the server: the parsed JSON of a 2xx answer, or a QuickstartError saying what went wrong. */
async function call(origin, method, path, { token, body, explain = {} } = {}) {
  const headers = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${origin}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const code = err.cause?.code ?? err.name;
    if (code === 'ECONNREFUSED') fail(`no server is listening at ${origin} (connection refused): start one with \`npm run dev\` or \`ADMIN_TOKEN=... npm start\`, or pass --url`);
    fail(`cannot reach ${origin}: ${code === 'TimeoutError' ? 'no answer within 10 s' : (err.cause?.message ?? err.message)}`);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    fail(`${method} ${path} answered ${res.status} with a body that is not JSON: is ${origin} an MWS server?`);
  }
  if (res.ok) return { status: res.status, json };
  const reason = json?.error?.reason ?? (Array.isArray(json?.errors) ? 'unprocessable_entity' : 'error');
  const message = json?.error?.message ?? json?.errors?.map((e) => e.message).join('; ') ?? text.slice(0, 200);
  const hint = reason in explain ? explain[reason] : explain[res.status];
  if (hint === null) return { status: res.status, json, reason };
  fail(`${method} ${path} answered ${res.status} ${reason}: ${message}${hint ? ` (${hint})` : ''}`);
}

/** A string field of an answer; never lets `undefined` reach the instructions. */
function field(json, key, what) {
  const value = json?.[key];
  if (typeof value !== 'string' || value === '') fail(`${what} has no "${key}": ${JSON.stringify(json).slice(0, 200)}`);
  return value;
}

async function main() {
  const { origin, tenant, json, adminToken } = readOptions();
  const info = await call(origin, 'GET', '/');
  if (info.json?.name !== 'MWS') fail(`${origin} answered GET / but is not MWS: ${JSON.stringify(info.json).slice(0, 200)}`);

  const adminHints = {
    401: 'ADMIN_TOKEN is not the token this server was started with',
    admin_api_disabled: 'start the server with ADMIN_TOKEN set',
  };
  const created = await call(origin, 'POST', '/admin/tenants', {
    token: adminToken,
    body: { name: tenant, accessControl: 'none' },
    explain: { ...adminHints, tenant_exists: null },
  });
  let securityToken;
  if (created.reason === 'tenant_exists') {
    const rotated = await call(origin, 'POST', `/admin/tenants/${tenant}/security-tokens`, { token: adminToken, explain: adminHints });
    securityToken = field(rotated.json, 'securityToken', `POST /admin/tenants/${tenant}/security-tokens`);
  } else {
    securityToken = field(created.json, 'securityToken', 'POST /admin/tenants');
  }

  const baseUrl = `${origin}/v1/gateways/${tenant}`;
  const connectUri = async () => {
    const answer = await call(origin, 'GET', `/v1/gateways/${tenant}/v1/websocket_uri`, { token: securityToken });
    return { uri: field(answer.json, 'uri', 'GET /v1/websocket_uri'), expiresAt: field(answer.json, 'expiresAt', 'GET /v1/websocket_uri') };
  };
  const forWscat = await connectUri();
  const forBrowser = await connectUri();
  const consoleUrl = `${baseUrl}/console/`;
  const consoleStatus = await fetch(consoleUrl, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => 0);
  const consoleLine =
    consoleStatus === 200
      ? `Live console (paste the token): ${consoleUrl}`
      : `Live console: not served by this server (GET ${consoleUrl} answered ${consoleStatus || 'nothing'}); \`npm run dev\` serves it.`;
  const browserUrl = `${pathToFileURL(BROWSER_EXAMPLE).href}?uri=${encodeURIComponent(forBrowser.uri)}`;
  const pushBody = '{"data": "Hello World!", "receivers": {"sockets": ["*"], "tags": null}}';
  const reused = created.reason === 'tenant_exists';

  if (json) {
    console.log(JSON.stringify({ tenant, reused, baseUrl, securityToken, uri: forWscat.uri, expiresAt: forWscat.expiresAt, browserUrl, consoleUrl: consoleStatus === 200 ? consoleUrl : null }));
    return;
  }
  console.log(`Tenant "${tenant}" ${reused ? 'exists: reusing it with a new security token (the one before it stays valid too)' : 'created, with accessControl "none"'} on ${origin}.

Security token (keep it out of browsers and git):
  ${securityToken}

For the SDK and examples/ (paste into your shell):
  export MWS_BASE_URL=${baseUrl} MWS_SECURITY_TOKEN=${securityToken}

1. Connect a client (this URI works once, until ${forWscat.expiresAt}; type ping to get pong):
  npx -y wscat -c '${forWscat.uri}'

2. Push to every connected socket, from another terminal:
  curl -X POST -H 'Authorization: Bearer ${securityToken}' -d '${pushBody}' ${baseUrl}/v1/messages

Or open a receiving page in a browser (its own single-use URI):
  ${browserUrl}

${consoleLine}`);
}

main().catch((err) => {
  console.error(`quickstart: ${err instanceof QuickstartError ? err.message : (err?.stack ?? String(err))}`);
  process.exit(1);
});
