import { json, Router, type IRequest, type RouterType } from 'itty-router';
import type { Action } from '../core/access';
import { readJsonBody } from '../core/body';
import type { Config } from '../core/config';
import { ApiError, errorResponse, unwrap } from '../core/errors';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, parseIdempotencyKey, pushFingerprint } from '../core/idempotency-key';
import { socketIdProblem } from '../core/fields';
import { stubByName } from '../core/object-ids';
import { bearerToken } from '../core/tokens';
import {
  isValidTenantName,
  parseConfiguration,
  parseLimits,
  parseListQuery,
  encodeBase64,
  parsePushRequest,
  parseShards,
  parseSocketRequest,
  parseTenantCreate,
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
import { tenantKnown } from './directory';

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
export const hub = (ctx: Pick<RouteContext, 'env' | 'tenant'>, name = ctx.tenant): DurableObjectStub<TenantHub> => stubByName(ctx.env.TENANT_HUB, name);

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

const tenantNotFound = (name: string) => new ApiError(404, 'tenant_not_found', `No tenant named "${name}".`);

const tenantNameParam = (request: IRequest): string => {
  const name = param(request, 'name');
  if (!isValidTenantName(name)) throw tenantNotFound(name);
  return name;
};

const webhooks = async (request: IRequest, ctx: RouteContext, command: WebhookCommand): Promise<unknown> =>
  unwrap(await hub(ctx).manageWebhooks(bearerToken(request), command));

/**
 * Reads a request's input (body, query, path), but when it is wrong, answers first what `refusal` would: a request
 * for an unknown tenant or with a bad token learns nothing about its input, and gets a small answer. Validation
 * stays in the Worker and the check costs a second hop only for wrong input; valid input is authorized once, by
 * the call it makes.
 */
async function input<T>(read: () => T | Promise<T>, refusal: () => Promise<void>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiError) await refusal();
    throw err;
  }
}

/** Throws the tenant's 404/401/403 when the caller may not do `action`. */
const mayCall = (request: IRequest, ctx: RouteContext, action: Action) => async (): Promise<void> => {
  unwrap(await hub(ctx).checkAccess(bearerToken(request), action));
};

/** For the operator's calls about one tenant: throws 404 when it does not exist. */
const tenantExists = (ctx: RouteContext, name: string) => async (): Promise<void> => {
  if ((await hub(ctx, name).shardLayout()) === null) throw tenantNotFound(name);
};

const connectUri = (base: string, token: string): string => `${base.replace(/^http/, 'ws')}/?token=${encodeURIComponent(token)}`;

/** A router whose stages render every thrown error as the JSON envelope and add CORS headers to every answer. */
function appRouter(): AppRouter {
  const router: AppRouter = Router<IRequest, [RouteContext], Response>({
    catch: (err, request) => errorResponse(err, `${request.method} ${new URL(request.url).pathname}`),
    finally: [(response: Response, request: IRequest) => withCors(response, request)],
  });
  return router;
}

/** Ends a router: 405 when some route has this path under another method, else 404 (with a hint when one helps). */
function noRoute(router: AppRouter, hint: (path: string, ctx: RouteContext) => string | null): (request: IRequest, ctx: RouteContext) => never {
  return (request, ctx) => {
    const path = new URL(request.url).pathname;
    const allowed = router.routes.filter(([m, pattern]) => m !== 'ALL' && pattern.test(path)).map(([m]) => m);
    if (allowed.length > 0) {
      const allow = [...new Set([...allowed, 'OPTIONS'])].join(', ');
      throw new ApiError(405, 'method_not_allowed', `${request.method} is not allowed on ${path}; use ${allow}.`, { headers: { allow } });
    }
    const why = hint(path, ctx);
    throw new ApiError(404, 'not_found', `No route for ${request.method} ${path}.${why === null ? '' : ` ${why}`}`);
  };
}

/** Routes on a tenant's host, or under /v1/gateways/{tenant}. Paths here are relative to the tenant. */
export const tenantRouter = appRouter();
tenantRouter
  .all('/v1/*', async (_request, ctx) => {
    if (!(await tenantKnown(ctx.env, ctx.tenant))) throw tenantNotFound(ctx.tenant);
  })
  .get('/', (request, ctx) => {
    if (new URL(request.url).searchParams.has('token')) {
      throw new ApiError(426, 'upgrade_required', 'This URI is for WebSocket clients: connect with a WebSocket, not plain HTTP.');
    }
    return serviceInfo(ctx.tenant);
  })
  .post('/v1/messages', async (request, ctx) => {
    const { key, push } = await input(
      async () => ({ key: parseIdempotencyKey(request.headers.get(IDEMPOTENCY_KEY_HEADER)), push: parsePushRequest(await readJsonBody(request)) }),
      mayCall(request, ctx, 'push'),
    );
    const claim = key === null ? null : { key, fingerprint: await pushFingerprint(push.data, push.receivers) };
    const { id, sent, replayed } = unwrap(await hub(ctx).pushMessage(bearerToken(request), push, claim));
    const data = typeof push.data === 'string' ? { data: push.data } : { dataBase64: encodeBase64(push.data) };
    return json({ id, ...data, receivers: push.receivers, sent }, { status: 201, headers: replayed ? { [IDEMPOTENT_REPLAYED_HEADER]: 'true' } : {} });
  })
  .get('/v1/websocket_uri', async (request, ctx) => {
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'connect', { id: null, tags: [] }));
    return json({ uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags });
  })
  .post('/v1/sockets', async (request, ctx) => {
    const socket = await input(async () => parseSocketRequest(await readJsonBody(request, { emptyAs: {} })), mayCall(request, ctx, 'manage'));
    const r = unwrap(await hub(ctx).reserveSocket(bearerToken(request), 'manage', socket));
    return json({ id: r.id, uri: connectUri(ctx.base, r.token), expiresAt: r.expiresAt, tags: r.tags }, { status: 201 });
  })
  .get('/v1/sockets', async (request, ctx) => {
    const { limit, cursor } = await input(() => parseListQuery(new URL(request.url).searchParams), mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).listSockets(bearerToken(request), limit, cursor)));
  })
  .get('/v1/sockets/:id', async (request, ctx) => {
    const id = await input(() => socketIdParam(request), mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).getSocket(bearerToken(request), id)));
  })
  .delete('/v1/sockets/:id', async (request, ctx) => {
    const id = await input(() => socketIdParam(request), mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).deleteSocket(bearerToken(request), id)));
  })
  .get('/v1/configuration', async (request, ctx) => json(unwrap(await hub(ctx).getConfiguration(bearerToken(request)))))
  .put('/v1/configuration', async (request, ctx) => {
    const read = async () => parseConfiguration(await readJsonBody(request), { loopbackHttpJwks: ctx.config.allowLoopbackHttpJwks });
    const update = await input(read, mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).setConfiguration(bearerToken(request), update)));
  })
  .post('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).createSigningKey(bearerToken(request))), { status: 201 }))
  .get('/v1/signing-keys', async (request, ctx) => json(unwrap(await hub(ctx).listSigningKeys(bearerToken(request)))))
  .delete('/v1/signing-keys/:kid', async (request, ctx) => json(unwrap(await hub(ctx).deleteSigningKey(bearerToken(request), param(request, 'kid')))))
  .post('/v1/webhooks', async (request, ctx) => {
    const read = async () => parseWebhookCreate(await readJsonBody(request), ctx.config.allowHttpWebhooks);
    const create = await input(read, mayCall(request, ctx, 'manage'));
    return json(await webhooks(request, ctx, { kind: 'create', input: create }), { status: 201 });
  })
  .get('/v1/webhooks', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'list' })))
  .get('/v1/webhooks/:id', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'get', id: param(request, 'id') })))
  .put('/v1/webhooks/:id', async (request, ctx) => {
    const update = await input(async () => parseWebhookUpdate(await readJsonBody(request), ctx.config.allowHttpWebhooks), mayCall(request, ctx, 'manage'));
    return json(await webhooks(request, ctx, { kind: 'update', id: param(request, 'id'), update }));
  })
  .delete('/v1/webhooks/:id', async (request, ctx) => json(await webhooks(request, ctx, { kind: 'delete', id: param(request, 'id') })))
  .post('/v1/webhooks/:id/secret', async (request, ctx) => {
    const read = async () => parseSecretRotation(await readJsonBody(request, { emptyAs: {} }));
    const { previousSecretTtlSeconds } = await input(read, mayCall(request, ctx, 'manage'));
    return json(await webhooks(request, ctx, { kind: 'rotate', id: param(request, 'id'), previousSecretTtlSeconds }), { status: 201 });
  })
  .get('/v1/webhooks/:id/deliveries', async (request, ctx) => {
    const { limit } = await input(() => parseDeliveriesQuery(new URL(request.url).searchParams), mayCall(request, ctx, 'manage'));
    return json(await webhooks(request, ctx, { kind: 'deliveries', id: param(request, 'id'), limit }));
  })
  .get('/v1/tags/:tag', async (request, ctx) => {
    const read = () => ({ tag: parseTagParam(param(request, 'tag')), ...parseListQuery(new URL(request.url).searchParams) });
    const { tag, limit, cursor } = await input(read, mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).tagPresence(bearerToken(request), tag, limit, cursor)));
  })
  .get('/v1/presence', async (request, ctx) => {
    const { tags } = await input(() => parsePresenceQuery(new URL(request.url).searchParams), mayCall(request, ctx, 'manage'));
    return json(unwrap(await hub(ctx).presence(bearerToken(request), tags)));
  })
  .all(
    '*',
    noRoute(tenantRouter, (path, ctx) =>
      path.startsWith('/admin/')
        ? `This host names tenant "${ctx.tenant}"; the admin API is on the service host, which names no tenant` +
          (ctx.config.rootDomain === null ? ' (set ROOT_DOMAIN so that only <tenant>.<ROOT_DOMAIN> names a tenant).' : ` (https://${ctx.config.rootDomain}).`)
        : null,
    ),
  );

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
    const limits = await input(async () => parseLimits(await readJsonBody(request)), tenantExists(ctx, tenantNameParam(request)));
    return json(unwrap(await named(request, ctx).setLimits(limits)));
  })
  .put('/admin/tenants/:name/shards', async (request, ctx) => {
    const { shards } = await input(async () => parseShards(await readJsonBody(request)), tenantExists(ctx, tenantNameParam(request)));
    return json(unwrap(await named(request, ctx).setShards(shards)));
  })
  .post('/admin/tenants/:name/security-tokens', async (request, ctx) => json(unwrap(await named(request, ctx).rotateSecurityToken()), { status: 201 }))
  .delete('/admin/tenants/:name/security-tokens/previous', async (request, ctx) => json(unwrap(await named(request, ctx).revokePreviousSecurityTokens())))
  .all(
    '*',
    noRoute(apexRouter, (path, ctx) =>
      path.startsWith('/v1/')
        ? `This host names no tenant: use ${ctx.base}/v1/gateways/<tenant>${path}` +
          (ctx.config.rootDomain === null ? '.' : ` or https://<tenant>.${ctx.config.rootDomain}${path}.`)
        : null,
    ),
  );
