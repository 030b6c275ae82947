import { CloseCode, refuseUpgrade } from '../core/close-codes';
import { readConfig, type Config } from '../core/config';
import { ApiError, errorResponse } from '../core/errors';
import { shardObjectName } from '../core/shards';
import { isValidTenantName } from '../core/validation';
import { routeUpgrade } from './connect';
import { tenantKnown } from './directory';
import { serveConsole } from './console';
import { preflightResponse, withCors } from './cors';
import { apexRouter, hub, tenantRouter, type RouteContext } from './routes';
import { publicUrl, resolveTarget } from './tenant-host';

/**
 * The Worker's fetch handler: resolves the tenant from the host or the gateway prefix, sends WebSocket upgrades
 * straight to their shard (the hot connect path skips the router), serves the console, and routes the rest.
 */
export async function handleRequest(request: Request, env: Env): Promise<Response> {
  const url = publicUrl(request);
  const config = configOf(env);
  const target = resolveTarget(url, config);
  if (request.method === 'OPTIONS') return preflightResponse(request);
  try {
    if (target.kind === 'tenant' && target.path === '/' && request.method === 'GET' && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
      const tenant = target.tenant;
      if (!isValidTenantName(tenant) || !(await tenantKnown(env, tenant))) {
        return refuseUpgrade(request, CloseCode.TENANT_NOT_FOUND, 'tenant not found');
      }
      const token = url.searchParams.get('token') ?? '';
      return await routeUpgrade(tenant, request, token, (shard) => hub({ env, tenant }, shardObjectName(tenant, shard)));
    }
    const consolePage = await serveConsole(request, url, target, { rootDomain: config.rootDomain, tenantExists: (tenant) => tenantExists(env, tenant) });
    if (consolePage !== null) return consolePage;
    if (target.kind === 'apex') return await apexRouter.fetch(request, { env, config, tenant: '', base: url.origin });
    if (!isValidTenantName(target.tenant)) throw new ApiError(404, 'tenant_not_found', `No tenant named "${target.tenant}".`);
    const context: RouteContext = { env, config, tenant: target.tenant, base: target.base };
    const routedUrl = new URL(url);
    routedUrl.pathname = target.path;
    return await tenantRouter.fetch(new Request(routedUrl, request), context);
  } catch (err) {
    return withCors(errorResponse(err, `${request.method} ${url.pathname}`), request);
  }
}

/** The settings, read once per `env` (the same object for every request of an isolate). */
const configs = new WeakMap<Env, Config>();
function configOf(env: Env): Config {
  let config = configs.get(env);
  if (config === undefined) configs.set(env, (config = readConfig(env)));
  return config;
}

async function tenantExists(env: Env, tenant: string): Promise<boolean> {
  return isValidTenantName(tenant) && (await tenantKnown(env, tenant)) && (await hub({ env, tenant }).shardLayout()) !== null;
}
