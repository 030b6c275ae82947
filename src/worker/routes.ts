import { json, Router, type IRequest, type RouterType } from 'itty-router';
import { readJsonBody } from '../core/body';
import type { Config } from '../core/config';
import { ApiError, errorResponse, unwrap } from '../core/errors';
import { bearerToken } from '../core/tokens';
import {
  isValidTenantName,
  parseConfiguration,
  parseLimits,
  parseListQuery,
  parsePushRequest,
  parseShards,
  parseSocketRequest,
  parseTenantCreate,
  socketIdProblem,
} from '../core/validation';
import {
  parseDeliveriesQuery,
  parsePresenceQuery,
  parseSecretRotation,
  parseTagParam,
  parseWebhookCreate,
  parseWebhookUpdate,
} from '../core/webhook-validation';
import type { TenantHub } from '../hub/tenant-hub';
import type { WebhookCommand } from '../hub/webhooks';
import { requireAdmin } from './admin-auth';
import { withCors } from './cors';

export const SERVICE_NAME = 'MWS';
export const SERVICE_VERSION = '1.0.0';

/** What every route handler gets besides the request. */
export interface RouteContext {
  env: Env;
  config: Config;
  /** For tenant routes: the tenant's name and the URL prefix its clients use. */
  tenant: string;
  base: string;
}

type AppRouter = RouterType<IRequest, [RouteContext], Response>;

/** The tenant's shard-0 object, or the object named `name`. */
export const hub = (ctx: Pick<RouteContext, 'env' | 'tenant'>, name = ctx.tenant): DurableObjectStub<TenantHub> =>
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

const tenantNameParam = (request: IRequest): string => {
  const name = param(request, 'name');
  if (!isValidTenantName(name)) throw new ApiError(404, 'tenant_not_found', `No tenant named "${name}".`);
  return name;
};

const webhooks = async (request: IRequest, ctx: RouteContext, command: WebhookCommand): Promise<unknown> =>
  unwrap(await hub(ctx).manageWebhooks(bearerToken(request), command));

const connectUri = (base: string, token: string): string => `${base.replace(/^http/, 'ws')}/?token=${encodeURIComponent(token)}`;

/** A router whose stages render every thrown error as the JSON envelope and add CORS headers to every answer. */
function appRouter(): AppRouter {
  const router: AppRouter = Router<IRequest, [RouteContext], Response>({
    catch: (err, request) => errorResponse(err, `${request.method} ${new URL(request.url).pathname}`),
    finally: [(response: Response, request: IRequest) => withCors(response, request)],
  });
  return router;
}

/** Ends a router: 405 when some route has this path under another method, else 404. */
function noRoute(router: AppRouter): (request: IRequest) => never {
  return (request) => {
    const path = new URL(request.url).pathname;
    const allowed = router.routes.filter(([m, pattern]) => m !== 'ALL' && pattern.test(path)).map(([m]) => m);
    if (allowed.length > 0) {
      const allow = [...new Set([...allowed, 'OPTIONS'])].join(', ');
      throw new ApiError(405, 'method_not_allowed', `${request.method} is not allowed on ${path}; use ${allow}.`, { headers: { allow } });
    }
    throw new ApiError(404, 'not_found', `No route for ${request.method} ${path}.`);
  };
}

/** Routes on a tenant's host, or under /v1/gateways/{tenant}. Paths here are relative to the tenant. */
export const tenantRouter = appRouter();
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
    return json({ id, data: push.data, receivers: push.receivers, sent }, { status: 201 });
  })
  .get('/v1/websocket_uri', async (request, ctx) => {
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'connect', { id: null, tags: [] }));
    return json({ id: r.id, uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags });
  })
  .post('/v1/sockets', async (request, ctx) => {
    const socket = parseSocketRequest(await readJsonBody(request, { emptyAs: {} }));
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'manage', socket));
    return json({ id: r.id, uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags }, { status: 201 });
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
  .post('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).createSigningKey(bearerToken(request))), { status: 201 }))
  .get('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).listSigningKeys(bearerToken(request)))))
  .delete('/v1/signing-keys/:kid', async (request, ctx) => json(unwrap(await hub(ctx).deleteSigningKey(bearerToken(request), param(request, 'kid')))))
  .post('/v1/webhooks', async (request, ctx) => {
    const input = parseWebhookCreate(await readJsonBody(request), ctx.config.allowHttpWebhooks);
    return json(await webhooks(request, ctx, { kind: 'create', input }), { status: 201 });
  })
  .get('/v1/webhooks', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'list' })))
  .get('/v1/webhooks/:id', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'get', id: param(request, 'id') })))
  .put('/v1/webhooks/:id', async (request, ctx) => {
    const update = parseWebhookUpdate(await readJsonBody(request), ctx.config.allowHttpWebhooks);
    return json(await webhooks(request, ctx, { kind: 'update', id: param(request, 'id'), update }));
  })
  .delete('/v1/webhooks/:id', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'delete', id: param(request, 'id') })))
  .post('/v1/webhooks/:id/secret', async (request, ctx) => {
    const { previousSecretTtlSeconds } = parseSecretRotation(await readJsonBody(request, { emptyAs: {} }));
    return json(await webhooks(request, ctx, { kind: 'rotate', id: param(request, 'id'), previousSecretTtlSeconds }), { status: 201 });
  })
  .get('/v1/webhooks/:id/deliveries', async (request, ctx) => {
    const { limit } = parseDeliveriesQuery(new URL(request.url).searchParams);
    return json(await webhooks(request, ctx, { kind: 'deliveries', id: param(request, 'id'), limit }));
  })
  .get('/v1/tags/:tag', async (request, ctx) => {
    const tag = parseTagParam(param(request, 'tag'));
    const { limit, cursor } = parseListQuery(new URL(request.url).searchParams);
    return json(unwrap(await hub(ctx).tagPresence(bearerToken(request), tag, limit, cursor)));
  })
  .get('/v1/presence', async (request, ctx) => {
    const { tags } = parsePresenceQuery(new URL(request.url).searchParams);
    return json(unwrap(await hub(ctx).presence(bearerToken(request), tags)));
  })
  .all('*', noRoute(tenantRouter));

/** Routes on a host that names no tenant: service info and the operator's admin API. */
export const apexRouter = appRouter();
const withAdmin = async (request: IRequest, ctx: RouteContext): Promise<void> => requireAdmin(request, ctx.config, ctx.env);
const named = (request: IRequest, ctx: RouteContext) => hub(ctx, tenantNameParam(request));
apexRouter
  .get('/', () => serviceInfo(null))
  .all('/admin/*', withAdmin)
  .post('/admin/tenants', async (request, ctx) => {
    const { name, accessControl, limits, shards } = parseTenantCreate(await readJsonBody(request));
    return json(unwrap(await hub(ctx, name).createTenant(name, accessControl, limits, shards)), { status: 201 });
  })
  .get('/admin/tenants/:name', async (request, ctx) => json(unwrap(await named(request, ctx).describeTenant())))
  .delete('/admin/tenants/:name', async (request, ctx) => json(unwrap(await named(request, ctx).deleteTenant())))
  .put('/admin/tenants/:name/limits', async (request, ctx) => {
    const limits = parseLimits(await readJsonBody(request));
    return json(unwrap(await named(request, ctx).setLimits(limits)));
  })
  .put('/admin/tenants/:name/shards', async (request, ctx) => {
    const { shards } = parseShards(await readJsonBody(request));
    return json(unwrap(await named(request, ctx).setShards(shards)));
  })
  .post('/admin/tenants/:name/security-tokens', async (request, ctx) => json(unwrap(await named(request, ctx).rotateSecurityToken()), { status: 201 }))
  .delete('/admin/tenants/:name/security-tokens/previous', async (request, ctx) => json(unwrap(await named(request, ctx).revokePreviousSecurityTokens())))
  .all('*', noRoute(apexRouter));
