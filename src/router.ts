import { Router, type IRequest, type RouterType } from 'itty-router';
import { decodeBase64urlJson } from './base64url';
import { readConfig, type Config } from './config';
import { serveConsole } from './console';
import { preflightResponse, withCors } from './cors';
import { ApiError, errorResponse, unwrap } from './errors';
import { looksLikeJwt } from './jwt';
import { shardFromToken, shardObjectName, shardOf, type ShardLayout } from './shards';
import { resolveTarget, isValidTenantName } from './tenant';
import type { TenantHub } from './tenant-hub';
import { bearerToken, secretsEqual } from './tokens';
import {
  parseConfiguration,
  parseLimits,
  parseListQuery,
  parsePushRequest,
  parseShards,
  parseSocketRequest,
  parseTenantCreate,
  readJsonBody,
  socketIdProblem,
} from './validation';

export const SERVICE_NAME = 'MWS';
export const SERVICE_VERSION = '1.0.0';

/** What every route handler gets besides the request. */
interface RouteContext {
  env: Env;
  config: Config;
  /** For tenant routes: the tenant's name and the URL prefix its clients use. */
  tenant: string;
  base: string;
}

type Handler = (request: IRequest, ctx: RouteContext) => Promise<Response> | Response;
type AppRouter = RouterType<IRequest, [RouteContext], Response>;

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });

const hub = (ctx: RouteContext, name = ctx.tenant): DurableObjectStub<TenantHub> =>
  ctx.env.TENANT_HUB.get(ctx.env.TENANT_HUB.idFromName(name));

const serviceInfo = (tenant: string | null): Response => json({ name: SERVICE_NAME, version: SERVICE_VERSION, tenant });

/** A path parameter, percent-decoded; malformed escapes are kept as they are (they then match nothing). */
const param = (request: IRequest, name: string): string => {
  const raw = request.params[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
};

const socketIdParam = (request: IRequest): string => {
  const id = param(request, 'id');
  const problem = socketIdProblem(id);
  if (problem) throw new ApiError(404, 'socket_not_found', `No connected socket with id "${id}": an id ${problem.message}`);
  return id;
};

/** Routes on a tenant's host, or under /v1/gateways/{tenant}. Paths here are relative to the tenant. */
const tenantRouter: AppRouter = Router<IRequest, [RouteContext], Response>();
tenantRouter
  .get('/', (request, ctx) => {
    if (new URL(request.url).searchParams.has('token')) {
      throw new ApiError(426, 'upgrade_required', 'This URI is for WebSocket clients: connect with a WebSocket, not plain HTTP.');
    }
    return serviceInfo(ctx.tenant);
  })
  .post('/v1/messages', async (request, ctx) => {
    const push = parsePushRequest(await readJsonBody(request));
    const { id, sent } = unwrap(await hub(ctx).pushMessage(bearerToken(request), push));
    return json({ id, data: push.data, receivers: push.receivers, sent }, 201);
  })
  .get('/v1/websocket_uri', async (request, ctx) => {
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'connect', { id: null, tags: [] }));
    return json({ id: r.id, uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags });
  })
  .post('/v1/sockets', async (request, ctx) => {
    const socket = parseSocketRequest(await readJsonBody(request, { emptyAs: {} }));
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'manage', socket));
    return json({ id: r.id, uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags }, 201);
  })
  .get('/v1/sockets', async (request, ctx) => {
    const { limit, cursor } = parseListQuery(new URL(request.url).searchParams);
    return json(unwrap(await hub(ctx).listSockets(bearerToken(request), limit, cursor)));
  })
  .get('/v1/sockets/:id', async (request, ctx) => json(unwrap(await hub(ctx).getSocket(bearerToken(request), socketIdParam(request)))))
  .delete('/v1/sockets/:id', async (request, ctx) => json(unwrap(await hub(ctx).deleteSocket(bearerToken(request), socketIdParam(request)))))
  .get('/v1/configuration', async (request, ctx) => json(unwrap(await hub(ctx).getConfiguration(bearerToken(request)))))
  .put('/v1/configuration', async (request, ctx) => {
    const update = parseConfiguration(await readJsonBody(request));
    return json(unwrap(await hub(ctx).setConfiguration(bearerToken(request), update)));
  })
  .post('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).createSigningKey(bearerToken(request))), 201))
  .get('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).listSigningKeys(bearerToken(request)))))
  .delete('/v1/signing-keys/:kid', async (request, ctx) =>
    json(unwrap(await hub(ctx).deleteSigningKey(bearerToken(request), param(request, 'kid')))),
  );

/** Routes on a host that names no tenant: service info and the operator's admin API. */
const apexRouter: AppRouter = Router<IRequest, [RouteContext], Response>();
const admin =
  (handler: Handler): Handler =>
  async (request, ctx) => {
    await requireAdmin(request, ctx.config, ctx.env);
    return handler(request, ctx);
  };
const tenantNameParam = (request: IRequest): string => {
  const name = param(request, 'name');
  if (!isValidTenantName(name)) throw new ApiError(404, 'tenant_not_found', `No tenant named "${name}".`);
  return name;
};
apexRouter
  .get('/', () => serviceInfo(null))
  .post(
    '/admin/tenants',
    admin(async (request, ctx) => {
      const { name, accessControl, limits, shards } = parseTenantCreate(await readJsonBody(request));
      return json(unwrap(await hub(ctx, name).createTenant(name, accessControl, limits, shards)), 201);
    }),
  )
  .get('/admin/tenants/:name', admin(async (request, ctx) => json(unwrap(await hub(ctx, tenantNameParam(request)).describeTenant()))))
  .delete('/admin/tenants/:name', admin(async (request, ctx) => json(unwrap(await hub(ctx, tenantNameParam(request)).deleteTenant()))))
  .put(
    '/admin/tenants/:name/limits',
    admin(async (request, ctx) => {
      const limits = parseLimits(await readJsonBody(request));
      return json(unwrap(await hub(ctx, tenantNameParam(request)).setLimits(limits)));
    }),
  )
  .put(
    '/admin/tenants/:name/shards',
    admin(async (request, ctx) => {
      const { shards } = parseShards(await readJsonBody(request));
      return json(unwrap(await hub(ctx, tenantNameParam(request)).setShards(shards)));
    }),
  )
  .post(
    '/admin/tenants/:name/security-tokens',
    admin(async (request, ctx) => json(unwrap(await hub(ctx, tenantNameParam(request)).rotateSecurityToken()), 201)),
  )
  .delete(
    '/admin/tenants/:name/security-tokens/previous',
    admin(async (request, ctx) => json(unwrap(await hub(ctx, tenantNameParam(request)).revokePreviousSecurityTokens()))),
  );

async function requireAdmin(request: Request, config: Config, env: Env): Promise<void> {
  // Cloudflare sets CF-Connecting-IP on every request at its edge; without it (tests, self-hosting) there is no
  // trustworthy key, so the per-IP limit applies only where it can.
  const ip = request.headers.get('cf-connecting-ip');
  if (ip !== null && env.ADMIN_RATE_LIMITER !== undefined && !(await env.ADMIN_RATE_LIMITER.limit({ key: ip })).success) {
    throw new ApiError(429, 'rate_limited', 'Too many admin requests from this address; retry in a minute.', { headers: { 'retry-after': '60' } });
  }
  if (config.adminToken === null) {
    throw new ApiError(403, 'admin_api_disabled', 'The admin API is disabled: ADMIN_TOKEN is not configured on this deployment.');
  }
  const token = bearerToken(request);
  if (token === null) throw new ApiError(401, 'unauthorized', 'Missing "Authorization: Bearer <ADMIN_TOKEN>" header.');
  if (!(await secretsEqual(token, config.adminToken))) throw new ApiError(401, 'unauthorized', 'Invalid admin token.');
}

/** Shard layouts seen recently, per tenant, so a backend-minted token on a sharded tenant rarely costs a lookup. */
const layoutCache = new Map<string, { layout: ShardLayout; until: number }>();
const LAYOUT_CACHE_MS = 60_000;

/**
 * The shard an upgrade goes to: opaque tokens carry it as a prefix; a backend-minted JWT names its socket id
 * (`sid`, read here unverified: the shard verifies it), which hashes to a shard of the tenant's layout.
 */
async function shardForConnect(ctx: RouteContext, token: string): Promise<number> {
  if (!looksLikeJwt(token)) return shardFromToken(token);
  const sid = unverifiedClaim(token, 'sid');
  if (typeof sid !== 'string') return 0;
  const cached = layoutCache.get(ctx.tenant);
  let layout = cached !== undefined && cached.until > Date.now() ? cached.layout : null;
  if (layout === null) {
    layout = await hub(ctx).shardLayout();
    if (layout === null) return 0;
    layoutCache.set(ctx.tenant, { layout, until: Date.now() + LAYOUT_CACHE_MS });
  }
  return shardOf(sid, layout.shards);
}

function unverifiedClaim(jwt: string, claim: string): unknown {
  try {
    return (decodeBase64urlJson(jwt.split('.')[1] ?? '') as Record<string, unknown> | null)?.[claim];
  } catch {
    return undefined;
  }
}

function connectUri(base: string, token: string): string {
  return `${base.replace(/^http/, 'ws')}/?token=${encodeURIComponent(token)}`;
}

/** 405 when some route has this path under another method, else 404. */
function noRoute(router: AppRouter, method: string, path: string): ApiError {
  const allowed = router.routes.filter(([, pattern]) => pattern.test(path)).map(([m]) => m);
  if (allowed.length > 0) {
    const allow = [...new Set([...allowed, 'OPTIONS'])].join(', ');
    return new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}; use ${allow}.`, { headers: { allow } });
  }
  return new ApiError(404, 'not_found', `No route for ${method} ${path}.`);
}

/** The Worker's fetch handler: resolves the tenant, routes, and renders every error as one JSON shape. */
export async function handleRequest(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  const config = readConfig(env);
  const target = resolveTarget(url, config);
  try {
    if (request.method === 'OPTIONS') return preflightResponse(request);
    let response: Response | undefined;
    let router: AppRouter;
    let routed: Request;
    if (target.kind === 'tenant') {
      if (!isValidTenantName(target.tenant)) throw new ApiError(404, 'tenant_not_found', `No tenant named "${target.tenant}".`);
      const context: RouteContext = { env, config, tenant: target.tenant, base: target.base };
      // The hot connect path skips the router: the upgrade goes straight to the shard that holds the token.
      if (target.path === '/' && request.method === 'GET' && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
        const shard = await shardForConnect(context, url.searchParams.get('token') ?? '');
        return await hub(context, shardObjectName(target.tenant, shard)).fetch(request);
      }
      const consolePage = serveConsole(request, target.path, env);
      if (consolePage !== null) return await consolePage;
      router = tenantRouter;
      const routedUrl = new URL(url);
      routedUrl.pathname = target.path;
      routed = new Request(routedUrl, request);
      response = await router.fetch(routed, context);
    } else {
      router = apexRouter;
      routed = request;
      response = await router.fetch(routed, { env, config, tenant: '', base: url.origin });
    }
    if (response === undefined) throw noRoute(router, request.method, new URL(routed.url).pathname);
    return withCors(response, request);
  } catch (err) {
    return withCors(errorResponse(err, { method: request.method, path: url.pathname }), request);
  }
}
