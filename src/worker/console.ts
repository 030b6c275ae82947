import page from '../../public/console/index.html';
import script from '../../public/console/console.js';
import style from '../../public/console/console.css';
import pageModule from '../../public/console/page.js';
import socketsModule from '../../public/console/sockets.js';
import { ApiError } from '../core/errors';
import type { Target } from './tenant-host';

/**
 * The live console: a page, its style and its script modules, bundled into the Worker as text, served at `/console/` on a tenant host and
 * under `/v1/gateways/{tenant}/console/`. No assets binding, so upgrades and REST calls pass through nothing but
 * the Worker, and `npm start`, `wrangler dev` and a deployment serve the same pages.
 */
const HTML = 'text/html; charset=utf-8';
const FILES: Record<string, { body: string; type: string }> = {
  '/console.js': { body: script, type: 'text/javascript; charset=utf-8' },
  '/page.js': { body: pageModule, type: 'text/javascript; charset=utf-8' },
  '/sockets.js': { body: socketsModule, type: 'text/javascript; charset=utf-8' },
  '/console.css': { body: style, type: 'text/css; charset=utf-8' },
};

const CONSOLE_PATH = /^(?:\/v1)?\/console(\/.*)?$/;

/** What the console needs from the rest of the Worker. */
export interface ConsoleContext {
  rootDomain: string | null;
  /** Whether the tenant has been created. */
  tenantExists(tenant: string): Promise<boolean>;
}

/**
 * The answer to a console address or `/favicon.ico` on any host, or null when the request is not for them. A tenant
 * that does not exist gets a 404 saying so, the service host a 404 saying where each tenant's console is: a page for
 * a browser (it asks for text/html), the JSON error envelope (thrown) for anything else.
 */
export async function serveConsole(request: Request, url: URL, target: Target, context: ConsoleContext): Promise<Response | null> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return null;
  if (url.pathname === '/favicon.ico') return new Response(null, { status: 204, headers: { 'cache-control': 'max-age=86400' } });
  const match = CONSOLE_PATH.exec(target.path);
  if (match === null) return null;
  const rest = match[1];
  // The page uses relative links, so it must be addressed as a directory.
  if (rest === undefined) return new Response(null, { status: 308, headers: { location: `${url.pathname}/${url.search}` } });
  const respond = (body: string, type: string, status = 200): Response =>
    new Response(request.method === 'HEAD' ? null : body, { status, headers: { 'content-type': type, 'cache-control': 'no-cache' } });
  const file = FILES[rest];
  if (file !== undefined) return respond(file.body, file.type);
  if (rest !== '/' && rest !== '/index.html') return null;
  const browser = request.headers.get('accept')?.includes('text/html') ?? false;
  if (target.kind === 'apex') {
    const tenant = url.searchParams.get('tenant')?.trim().toLowerCase();
    if (tenant) return new Response(null, { status: 303, headers: { location: `/v1/gateways/${encodeURIComponent(tenant)}/console/` } });
    if (browser) return respond(servicePage(url.origin, context.rootDomain), HTML, 404);
    throw new ApiError(404, 'not_found', `This host names no tenant; each tenant's console is at ${consoleAddresses(url.origin, context.rootDomain).join(' or ')}.`);
  }
  if (!(await context.tenantExists(target.tenant))) {
    if (browser) return respond(noTenantPage(target.tenant, serviceOrigin(url, target)), HTML, 404);
    throw new ApiError(404, 'tenant_not_found', `No tenant named "${target.tenant}".`);
  }
  return respond(page, HTML);
}

/** The service host (admin API) as seen from a tenant address: the same origin under the gateway prefix, else the host minus the tenant's label. */
function serviceOrigin(url: URL, target: Extract<Target, { kind: 'tenant' }>): string {
  if (target.base.startsWith(`${url.origin}/v1/gateways/`)) return url.origin;
  return `${url.protocol}//${url.host.slice(url.host.indexOf('.') + 1)}`;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const shell = (title: string, body: string): string => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>${title}</title>
  <link rel="stylesheet" href="console.css">
</head>
<body>
${body}
</body>
</html>
`;

function noTenantPage(tenant: string, service: string): string {
  const name = escapeHtml(tenant);
  return shell(
    'MWS console: no such tenant',
    `  <h1>No tenant named "${name}"</h1>
  <p>This server has no tenant named <code>${name}</code>, so there is no console for it. Create it with the admin API,
  then reload this page:</p>
  <pre>curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -d '{"name": "${name}"}' ${escapeHtml(service)}/admin/tenants</pre>
  <p>On a local server, <code>npm run quickstart -- ${name}</code> does the same and prints the tenant's security token.</p>`,
  );
}

const consoleAddresses = (origin: string, rootDomain: string | null): string[] =>
  [`${origin}/v1/gateways/<tenant>/console/`, ...(rootDomain === null ? [] : [`https://<tenant>.${rootDomain}/console/`])];

function servicePage(origin: string, rootDomain: string | null): string {
  const where = consoleAddresses(origin, rootDomain).map((address) => `<code>${escapeHtml(address)}</code>`);
  return shell(
    'MWS console',
    `  <h1>MWS console</h1>
  <p>This is the service host: it names no tenant. Each tenant has its own console at ${where.join(' or ')}.</p>
  <form method="get" action="">
    <label>Tenant <input name="tenant" required placeholder="demo"></label>
    <button type="submit">Open its console</button>
  </form>`,
  );
}
