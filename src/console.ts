/**
 * The live console: static files in public/console, served through the ASSETS binding at `/console/`
 * on a tenant host and under `/v1/gateways/{tenant}/console/`.
 */
const CONSOLE_PATH = /^(?:\/v1)?\/console(\/.*)?$/;

/** The console's response for a tenant-relative path, or null when the path is not the console's. */
export function serveConsole(request: Request, tenantPath: string, env: Env): Promise<Response> | Response | null {
  const match = CONSOLE_PATH.exec(tenantPath);
  if (match === null || (request.method !== 'GET' && request.method !== 'HEAD')) return null;
  const url = new URL(request.url);
  const rest = match[1];
  // The page uses relative links, so it must be addressed as a directory.
  if (rest === undefined) return new Response(null, { status: 308, headers: { location: `${url.pathname}/${url.search}` } });
  return env.ASSETS.fetch(new Request(new URL(`/console${rest}`, url.origin), { method: request.method, headers: request.headers }));
}
