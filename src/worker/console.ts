import page from '../../public/console/index.html';
import script from '../../public/console/console.js';
import style from '../../public/console/console.css';

/**
 * The live console: three small files bundled into the Worker as text, served at `/console/` on a tenant host and
 * under `/v1/gateways/{tenant}/console/`. No assets binding, so upgrades and REST calls pass through nothing but
 * the Worker, and `npm start`, `wrangler dev` and a deployment serve the same pages.
 */
const FILES: Record<string, { body: string; type: string }> = {
  '/': { body: page, type: 'text/html; charset=utf-8' },
  '/index.html': { body: page, type: 'text/html; charset=utf-8' },
  '/console.js': { body: script, type: 'text/javascript; charset=utf-8' },
  '/console.css': { body: style, type: 'text/css; charset=utf-8' },
};

const CONSOLE_PATH = /^(?:\/v1)?\/console(\/.*)?$/;

/** The console's response for a tenant-relative path, or null when the path is not the console's. */
export function serveConsole(request: Request, tenantPath: string): Response | null {
  const match = CONSOLE_PATH.exec(tenantPath);
  if (match === null || (request.method !== 'GET' && request.method !== 'HEAD')) return null;
  const url = new URL(request.url);
  const rest = match[1];
  // The page uses relative links, so it must be addressed as a directory.
  if (rest === undefined) return new Response(null, { status: 308, headers: { location: `${url.pathname}/${url.search}` } });
  const file = FILES[rest];
  if (file === undefined) return null;
  return new Response(request.method === 'HEAD' ? null : file.body, { headers: { 'content-type': file.type, 'cache-control': 'no-cache' } });
}
