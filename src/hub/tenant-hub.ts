import { DurableObject } from 'cloudflare:workers';
import type { DeliveryList, PresenceCounts } from '../../sdk/src/protocol';
import { subjectTags, type Action } from '../core/access';
import { readConfig, type Config } from '../core/config';
import { ApiError, errorResponse, settle, type Outcome } from '../core/errors';
import { userOf } from '../core/jwt';
import { nextSweepAt } from '../core/keepalive';
import type { TenantLimits } from '../core/limits';
import { allShards, shardOf, tokenForShard, type Cursor, type ShardLayout } from '../core/shards';
import { configurationView, layoutOf, limitsOf, type ConfigurationView, type ShardRecord, type TenantInfo } from '../core/tenant-record';
import { randomToken } from '../core/tokens';
import type { AccessControl, ConfigurationUpdate, PushRequest, Receivers, SocketRequest } from '../core/validation';
import { AlarmSchedule } from './alarm';
import { CloseCode, closeQuietly } from './close-codes';
import { ConnectTokens, type Grant } from './connect-tokens';
import { closeSocket, countSockets, fanOut, findSocket, listPage, type SocketPage } from './fan-out';
import { EventPipeline } from './event-pipeline';
import { presenceCounts, tagPresence, type TagChange, type TagPresence } from './presence';
import { RateLimiter } from './rate-limiter';
import { ShardCalls } from './shard-calls';
import { Sockets, type SocketInfo } from './sockets';
import { TenantStore } from './tenant-store';
import type { WebhookCommand } from './webhooks';

export type { Action } from '../core/access';
export type { SocketInfo } from './sockets';
export type { SocketPage } from './fan-out';

export interface Reservation {
  id: string;
  tags: string[];
  token: string;
  expiresAt: string;
}

/**
 * One tenant, or one shard of a large tenant: configuration (shard 0 only), connect-token reservations,
 * hibernatable WebSockets and the webhook outbox. Shard 0 answers every REST call and fans out to the other shards;
 * a one-shard tenant never leaves its object. RPC methods return Outcomes (ApiErrors as data); socket handlers never
 * throw. Each method only delegates: the record to TenantStore, sockets to Sockets, shards to fan-out, tokens to
 * ConnectTokens, webhook events to SocketEvents and the Outbox, webhook management to Webhooks.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private readonly shards: ShardCalls;
  private readonly store: TenantStore;
  private readonly sockets: Sockets;
  private readonly connectTokens: ConnectTokens;
  private readonly limiter = new RateLimiter();
  private readonly alarms: AlarmSchedule;
  private readonly pipeline: EventPipeline;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see core/keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.shards = new ShardCalls(this, env.TENANT_HUB, () => this.store.eventSettings()?.shard ?? 0);
    this.store = new TenantStore(ctx.storage, this.shards, () => this.pipeline.settingsChanged());
    this.alarms = new AlarmSchedule(ctx.storage);
    this.pipeline = new EventPipeline(ctx, this.store, this.shards, this.config, (at) => this.wakeBy(at));
    this.sockets = new Sockets(ctx, () => this.where(), this.pipeline.events);
    this.connectTokens = new ConnectTokens(ctx.storage);
    this.pipeline.reconcile();
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  createTenant(name: string, accessControl: AccessControl, limits: Partial<TenantLimits> = {}, shards = 1) {
    return settle(() => this.store.create(name, accessControl, limits, shards));
  }

  setLimits(limits: Partial<TenantLimits>): Promise<Outcome<{ limits: TenantLimits }>> {
    return settle(async () => {
      const result = await this.store.setLimits(limits);
      this.limiter.reset();
      return result;
    });
  }

  /** Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are. */
  setShards(shards: number): Promise<Outcome<ShardLayout>> {
    return settle(() => this.store.setShards(shards));
  }

  describeTenant(): Promise<Outcome<TenantInfo>> {
    return settle(async () => {
      const tenant = this.store.requireTenant();
      return {
        name: tenant.name,
        accessControl: tenant.accessControl,
        createdAt: new Date(tenant.createdAt).toISOString(),
        securityTokens: tenant.securityTokenHashes.length,
        sockets: await countSockets(this.shards, tenant),
        limits: limitsOf(tenant),
        shards: layoutOf(tenant).shards,
      };
    });
  }

  rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(() => this.store.rotateSecurityToken());
  }

  revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(() => this.store.revokePreviousSecurityTokens());
  }

  /** Closes every socket on every shard and erases the tenant. */
  deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const tenant = this.store.requireTenant();
      await this.shards.each(tenant.name, allShards(layoutOf(tenant)).filter((k) => k !== 0), (hub) => hub.shardWipe());
      await this.shardWipe();
      return {};
    });
  }

  /** The tenant's shard layout, for routing backend-minted connect tokens; null when there is no such tenant. */
  shardLayout(): ShardLayout | null {
    const tenant = this.store.tenant();
    return tenant === null ? null : layoutOf(tenant);
  }

  // ---- Tenant API (shard 0) ----

  /** Whether `bearer` may do `action`, alone: the Worker asks before it answers input it could not accept. */
  checkAccess(bearer: string | null, action: Action): Promise<Outcome<null>> {
    return settle(async () => {
      await this.store.authorize(bearer, action);
      return null;
    });
  }

  pushMessage(bearer: string | null, push: PushRequest): Promise<Outcome<{ id: string; sent: number }>> {
    return settle(async () => {
      const { tenant } = await this.store.authorize(bearer, 'push');
      this.limiter.spend('push', limitsOf(tenant).pushesPerSecond);
      const layout = layoutOf(tenant);
      const id = crypto.randomUUID();
      if (layout.shards === 1 && layout.previous.length === 0) return { id, sent: this.shardDeliver(push.receivers, push.data) };
      return { id, sent: await fanOut(this.shards, tenant, push) };
    });
  }

  /** Reserves a socket id with its tags, on the shard the id belongs to, and returns the single-use connect token. */
  reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      const { tenant, principal } = await this.store.authorize(bearer, action);
      const id = request.id ?? crypto.randomUUID();
      const tags = principal.kind === 'user' ? subjectTags(principal.claims, tenant.jwt) : request.tags;
      const user = principal.kind === 'user' ? userOf(principal.claims) : null;
      const shard = shardOf(id, layoutOf(tenant).shards);
      const secret = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      await this.shards.one(tenant.name, shard, (hub) => hub.shardReserve(secret, { id, tags, user }, expiresAt));
      return { id, tags, token: tokenForShard(shard, secret), expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  listSockets(bearer: string | null, limit: number, cursor: Cursor | null): Promise<Outcome<SocketPage>> {
    return settle(async () => listPage(this.shards, (await this.store.authorize(bearer, 'manage')).tenant, limit, cursor));
  }

  getSocket(bearer: string | null, id: string): Promise<Outcome<SocketInfo>> {
    return settle(async () => {
      const info = await findSocket(this.shards, (await this.store.authorize(bearer, 'manage')).tenant, id);
      if (info === null) throw socketNotFound(id);
      return info;
    });
  }

  deleteSocket(bearer: string | null, id: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      if ((await closeSocket(this.shards, (await this.store.authorize(bearer, 'manage')).tenant, id)) === 0) throw socketNotFound(id);
      return {};
    });
  }

  getConfiguration(bearer: string | null): Promise<Outcome<ConfigurationView>> {
    return settle(async () => configurationView((await this.store.authorize(bearer, 'manage')).tenant));
  }

  setConfiguration(bearer: string | null, update: ConfigurationUpdate): Promise<Outcome<ConfigurationView>> {
    return settle(async () => this.store.setConfiguration((await this.store.authorize(bearer, 'manage')).tenant, update));
  }

  createSigningKey(bearer: string | null) {
    return settle(async () => this.store.createSigningKey((await this.store.authorize(bearer, 'manage')).tenant));
  }

  listSigningKeys(bearer: string | null) {
    return settle(async () => this.store.listSigningKeys((await this.store.authorize(bearer, 'manage')).tenant));
  }

  deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => this.store.deleteSigningKey((await this.store.authorize(bearer, 'manage')).tenant, kid));
  }

  /** Creates, lists, changes, rotates, deletes webhooks and lists their deliveries; see Webhooks. */
  manageWebhooks(bearer: string | null, command: WebhookCommand): Promise<Outcome<unknown>> {
    return settle(async () => this.pipeline.manage((await this.store.authorize(bearer, 'manage')).tenant, command));
  }

  tagPresence(bearer: string | null, tag: string, limit: number, cursor: Cursor | null): Promise<Outcome<TagPresence>> {
    return settle(async () => tagPresence(this.shards, (await this.store.authorize(bearer, 'manage')).tenant, tag, limit, cursor));
  }

  presence(bearer: string | null, tags: string[]): Promise<Outcome<PresenceCounts>> {
    return settle(async () => ({ tags: await presenceCounts(this.shards, (await this.store.authorize(bearer, 'manage')).tenant, tags) }));
  }

  // ---- Shard API: what shard 0 asks of every shard (itself included, without a hop) ----

  /** Sends `data` to this shard's matching sockets; returns how many it was written to. */
  shardDeliver(receivers: Receivers, data: string): number {
    return this.sockets.deliver(receivers, data);
  }

  async shardReserve(secret: string, grant: Grant, expiresAt: number): Promise<void> {
    await this.connectTokens.reserve(secret, grant, expiresAt);
    await this.alarms.sweepBy(Date.now() + this.config.keepaliveIntervalMs);
  }

  /** Up to `limit` open sockets (with `tag`, when given) with ids after `after`, in id order. */
  shardList(after: string, limit: number, tag?: string): SocketInfo[] {
    return this.sockets.list(after, limit, tag);
  }

  shardCountTags(tags: string[]): number[] {
    return this.sockets.countTags(tags);
  }

  shardDeliveries(webhookId: string, limit: number): DeliveryList {
    return this.pipeline.deliveries(webhookId, limit);
  }

  /** Shard 0: another shard's tags became occupied or vacant. */
  shardTagReports(shard: number, changes: (TagChange & { seq: number })[]): void {
    this.pipeline.applyTagReports(shard, changes);
  }

  /** Shard 0: a shard gave up delivering to a webhook. */
  shardDisableWebhook(webhookId: string, reason: string): Promise<void> {
    return this.pipeline.disable(webhookId, reason);
  }

  shardGet(id: string): SocketInfo | null {
    return this.sockets.get(id);
  }

  /** Closes the sockets with this id (4001); returns how many. */
  shardClose(id: string): number {
    return this.sockets.remove(id);
  }

  shardCount(): number {
    return this.sockets.openCount();
  }

  /** Stores what shard k needs to know about its tenant. */
  shardAdopt(record: ShardRecord): void {
    this.store.adopt(record);
    this.limiter.reset();
  }

  /** Closes every socket (4000) and erases everything this object stores. */
  async shardWipe(): Promise<void> {
    this.sockets.closeAll(CloseCode.TENANT_DELETED, 'tenant deleted');
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.connectTokens.ensureSchema();
    this.connectTokens.forget();
    this.pipeline.wiped();
    this.alarms.forget();
    this.store.forget();
  }

  // ---- WebSockets ----

  /**
   * WebSocket upgrades with `?token=`: an opaque token from a reservation, or a JWT a backend minted.
   * Token refusals are close codes the client can see, even in a browser; load refusals are HTTP 429/503.
   */
  override async fetch(request: Request): Promise<Response> {
    const placement = this.store.placement();
    if (placement === null) return refuseSocket(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
    try {
      this.limiter.spend('connect', placement.limits.connectsPerSecond);
      if (this.sockets.heldCount() >= placement.limits.maxSockets) {
        throw new ApiError(503, 'tenant_full', `This tenant has reached its limit of ${placement.limits.maxSockets} sockets per object.`, { headers: { 'retry-after': '10' } });
      }
    } catch (err) {
      return errorResponse(err, `upgrade (${this.where()})`);
    }
    const token = new URL(request.url).searchParams.get('token');
    if (!token) return refuseSocket(CloseCode.INVALID_TOKEN, 'missing connect token');
    let grant: Grant | null;
    try {
      grant = await this.connectTokens.redeemAny(token, placement);
    } catch (err) {
      return refuseSocket(CloseCode.INVALID_TOKEN, err instanceof ApiError ? `${err.reason}: ${err.message}` : 'invalid connect token');
    }
    if (grant === null) return refuseSocket(CloseCode.INVALID_TOKEN, 'connect token is unknown, already used or expired');
    const client = this.sockets.accept(grant.id, grant.tags, grant.user);
    if (client === null) return refuseSocket(CloseCode.SEND_FAILED, 'internal error: the socket could not be accepted');
    await this.alarms.sweepBy(Date.now() + this.config.keepaliveIntervalMs);
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.sockets.onClientMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.sockets.onClientClose(ws, code, reason);
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.sockets.onError(ws, error);
  }

  /**
   * The object's one alarm, at the earliest of two due times: the keepalive sweep (closes stale sockets, forgets
   * expired tokens, stops when nothing is left to watch) and the webhook outbox (delivers what is due).
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const interval = this.config.keepaliveIntervalMs;
    const outboxDueAt = this.pipeline.nextDueAt();
    // Sweep when due, and whenever the alarm did not fire for the outbox (it may run early, e.g. in tests).
    const sweep = this.alarms.begin(now).sweepDue || outboxDueAt === null || outboxDueAt > now;
    const nextSweep = sweep ? nextSweepAt(now, interval, this.sockets.sweep(now, interval), this.connectTokens.purgeExpired(now)) : 'not run';
    await this.alarms.end(nextSweep, await this.pipeline.deliverDue(now, this.where()));
  }

  // ---- internals ----

  /** "tenant acme shard 2", for log lines. */
  private where(): string {
    const placement = this.store.placement();
    return placement === null ? 'no tenant' : `tenant ${placement.tenant} shard ${placement.shard}`;
  }

  /** Events were queued: run the alarm by `at` to deliver them. */
  private wakeBy(at: number): void {
    this.alarms.wakeBy(at).catch((err: unknown) => console.error(`could not set the alarm (${this.where()})`, String(err)));
  }
}

function socketNotFound(id: string): ApiError {
  return new ApiError(404, 'socket_not_found', `No connected socket with id "${id}".`);
}

/** Completes the upgrade only to close at once with `code`, so even a browser sees why it was refused. */
function refuseSocket(code: number, reason: string): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  closeQuietly(server, code, reason);
  return new Response(null, { status: 101, webSocket: client });
}
