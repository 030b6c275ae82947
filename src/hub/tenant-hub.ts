import { DurableObject } from 'cloudflare:workers';
import type { DeliveryList, PresenceCounts } from '../../sdk/src/protocol';
import { subjectTags, type Action } from '../core/access';
import { readConfig, type Config } from '../core/config';
import { ApiError, settle, type Outcome } from '../core/errors';
import { userOf } from '../core/jwt';
import { nextSweepAt } from '../core/keepalive';
import type { TenantLimits } from '../core/limits';
import { countsInUse, shardOf, tokenForShard, type Cursor, type ShardLayout } from '../core/shards';
import type { IdempotencyClaim } from '../core/idempotency-key';
import { configurationView, layoutOf, limitsOf, tenantInfo, type ConfigurationView, type ShardRecord, type TenantInfo } from '../core/tenant-record';
import { randomToken } from '../core/tokens';
import type { AccessControl, ConfigurationUpdate, PushRequest, Receivers, SocketRequest } from '../core/validation';
import { AlarmSchedule } from './alarm';
import { CloseCode } from '../core/close-codes';
import { directoryFor } from '../directory/tenant-directory';
import { ConnectTokens, type Grant } from './connect-tokens';
import { EventPipeline } from './event-pipeline';
import { closeSocket, countSockets, findSocket, listPage, type SocketPage } from './fan-out';
import { IdempotencyKeys } from './idempotency';
import { presenceCounts, tagPresence, type TagChange, type TagPresence } from './presence';
import { Publisher, type OutboundMessage, type Published } from './publish';
import { RateLimiter } from './rate-limiter';
import { ShardCalls } from './shard-calls';
import { ShardDelivery } from './shard-delivery';
import { Sockets, type SocketInfo } from './sockets';
import { TenantCredentials } from './tenant-credentials';
import { TenantStore } from './tenant-store';
import { upgrade, type UpgradeParts } from './upgrade';
import type { WebhookCommand } from './webhooks';

export type { Action } from '../core/access';
export type { SocketInfo } from './sockets';
export type { SocketPage } from './fan-out';
export type { OutboundMessage, Published } from './publish';

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
 * throw. Each method only delegates: the record to TenantStore, security tokens and signing keys to
 * TenantCredentials, sockets to Sockets, upgrades to upgrade, pushes to
 * Publisher and fan-out, a shard's delivery (history, mws.v2, flow control) to ShardDelivery, tokens to
 * ConnectTokens, webhooks (events, outbox, management) to EventPipeline.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private readonly shards: ShardCalls;
  private readonly store: TenantStore;
  private readonly credentials: TenantCredentials;
  private readonly sockets: Sockets;
  private readonly connectTokens: ConnectTokens;
  private readonly delivery: ShardDelivery;
  private readonly keys: IdempotencyKeys;
  private readonly publisher: Publisher;
  private readonly limiter = new RateLimiter();
  private readonly alarms: AlarmSchedule;
  private readonly pipeline: EventPipeline;
  private readonly upgradeParts: UpgradeParts;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see core/keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.shards = new ShardCalls(this, env.TENANT_HUB, () => this.store.placement()?.shard ?? 0);
    this.store = new TenantStore(ctx.storage, this.shards, this.config.connectTokenTtlMs, () => this.pipeline.settingsChanged());
    this.credentials = new TenantCredentials(this.store);
    this.alarms = new AlarmSchedule(ctx.storage, () => this.store.placement() !== null);
    this.pipeline = new EventPipeline(ctx, this.store, this.shards, this.config, (at) => this.wakeBy(at));
    this.sockets = new Sockets(ctx, () => this.where(), this.pipeline.events);
    this.connectTokens = new ConnectTokens(ctx.storage);
    // History ages out on the alarm even when no socket keeps it running.
    this.delivery = new ShardDelivery(ctx.storage, this.sockets, this.store, this.config.keepaliveIntervalMs, () => this.where(), () => void this.ensureAlarm());
    this.keys = new IdempotencyKeys(ctx.storage);
    this.publisher = new Publisher(this.shards, this.keys);
    this.pipeline.reconcile();
    const { store, sockets, connectTokens, limiter, shards } = this;
    const v2 = this.delivery.v2;
    this.upgradeParts = { store, sockets, connectTokens, limiter, shards, v2, ensureAlarm: () => this.ensureAlarm(), where: () => this.where() };
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  createTenant(name: string, accessControl: AccessControl, limits: Partial<TenantLimits> = {}, shards = 1) {
    return settle(async () => {
      const created = await this.store.create(name, accessControl, limits, shards);
      await this.listInDirectory();
      return created;
    });
  }

  setLimits(limits: Partial<TenantLimits>): Promise<Outcome<{ limits: TenantLimits }>> {
    return settle(() => this.store.setLimits(limits));
  }

  /**
   * Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are, and the
   * earlier count is remembered until none of them is left.
   */
  setShards(shards: number): Promise<Outcome<ShardLayout>> {
    return settle(async () => {
      const layout = await this.store.setShards(shards);
      if (layout.previous.length > 0) await this.ensureAlarm();
      return layout;
    });
  }

  describeTenant(): Promise<Outcome<TenantInfo>> {
    return settle(async () => {
      const tenant = this.store.requireTenant();
      // Also lists tenants made before the directory existed: the operator describes each once.
      await this.listInDirectory();
      return tenantInfo(tenant, await countSockets(this.shards, tenant));
    });
  }

  rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(() => this.credentials.rotateSecurityToken());
  }

  revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(() => this.credentials.revokePreviousSecurityTokens());
  }

  /** Closes every socket on every shard the tenant ever had and erases all it stored. */
  deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const { name, createdAt } = this.store.requireTenant();
      const erased = await this.store.erase(() => this.shardWipe());
      await directoryFor(this.env, name).remove(name, createdAt);
      return erased;
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
      await this.credentials.authorize(bearer, action);
      return null;
    });
  }

  /** Delivers a push on every shard it reaches; with an Idempotency-Key, once (a repeat answers the first response). */
  pushMessage(bearer: string | null, push: PushRequest, claim: IdempotencyClaim | null = null): Promise<Outcome<Published>> {
    return settle(async () => {
      const { tenant } = await this.credentials.authorize(bearer, 'push');
      return this.publisher.publish(tenant, push.data, push.receivers, claim, () => this.limiter.spend('push', limitsOf(tenant)));
    });
  }

  /** Reserves a socket id with its tags, on the shard the id belongs to, and returns the single-use connect token. */
  reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      const { tenant, principal } = await this.credentials.authorize(bearer, action);
      const id = request.id ?? crypto.randomUUID();
      const tags = principal.kind === 'user' ? subjectTags(principal.claims, tenant.jwt) : request.tags;
      const user = principal.kind === 'user' ? userOf(principal.claims) : null;
      const shard = shardOf(id, layoutOf(tenant).shards);
      const secret = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      if (!(await this.shards.one(tenant.name, shard, (hub) => hub.shardReserve(secret, { id, tags, user }, expiresAt)))) {
        throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
      }
      return { id, tags, token: tokenForShard(shard, secret), expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  listSockets(bearer: string | null, limit: number, cursor: Cursor | null): Promise<Outcome<SocketPage>> {
    return settle(async () => listPage(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, limit, cursor));
  }

  getSocket(bearer: string | null, id: string): Promise<Outcome<SocketInfo>> {
    return settle(async () => {
      const info = await findSocket(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, id);
      if (info === null) throw socketNotFound(id);
      return info;
    });
  }

  deleteSocket(bearer: string | null, id: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      if ((await closeSocket(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, id)) === 0) throw socketNotFound(id);
      return {};
    });
  }

  getConfiguration(bearer: string | null): Promise<Outcome<ConfigurationView>> {
    return settle(async () => configurationView((await this.credentials.authorize(bearer, 'manage')).tenant));
  }

  setConfiguration(bearer: string | null, update: ConfigurationUpdate): Promise<Outcome<ConfigurationView>> {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.store.setConfiguration(update)));
  }

  createSigningKey(bearer: string | null) {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.credentials.createSigningKey()));
  }

  listSigningKeys(bearer: string | null) {
    return settle(async () => this.credentials.listSigningKeys((await this.credentials.authorize(bearer, 'manage')).tenant));
  }

  deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.credentials.deleteSigningKey(kid)));
  }

  /** Creates, lists, changes, rotates, deletes webhooks and lists their deliveries; see Webhooks. */
  manageWebhooks(bearer: string | null, command: WebhookCommand): Promise<Outcome<unknown>> {
    return settle(async () => this.pipeline.manage((await this.credentials.authorize(bearer, 'manage')).tenant, command));
  }

  tagPresence(bearer: string | null, tag: string, limit: number, cursor: Cursor | null): Promise<Outcome<TagPresence>> {
    return settle(async () => tagPresence(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, tag, limit, cursor));
  }

  presence(bearer: string | null, tags: string[]): Promise<Outcome<PresenceCounts>> {
    return settle(async () => ({ tags: await presenceCounts(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, tags) }));
  }

  // ---- Shard API: what shard 0 asks of every shard (itself included, without a hop) ----

  /**
   * Records the message in this shard's history (when it records) and sends it to the matching sockets; with `once`
   * (a keyed push), a message id this shard already delivered is not sent again.
   */
  shardDeliver(receivers: Receivers, message: OutboundMessage, once = false): number {
    return this.delivery.deliver(receivers, message, once);
  }

  /** Stores a reservation; false when this shard has no tenant (it was deleted meanwhile). */
  async shardReserve(secret: string, grant: Grant, expiresAt: number): Promise<boolean> {
    if (this.store.placement() === null || !(await this.connectTokens.reserve(secret, grant, expiresAt))) return false;
    await this.ensureAlarm();
    return true;
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
    return this.sockets.close(id, CloseCode.REMOVED, 'removed by the backend', 'backend');
  }

  /** Closes this shard's sockets with this id (4003): a newer connection with the id was accepted on another shard. */
  shardReplace(id: string): number {
    return this.sockets.close(id, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id', 'replaced');
  }

  /** Records a connect token's `jti` here; false when it was recorded before. A shard without a tenant never had it. */
  async shardSpendJti(jti: string, until: number): Promise<boolean> {
    if (this.store.placement() === null) return true;
    const fresh = this.connectTokens.spendJti(jti, until);
    await this.ensureAlarm();
    return fresh;
  }

  shardCount(): number {
    return this.sockets.openCount();
  }

  /** The earlier shard counts of `layout` that placed sockets still connected here. */
  shardCountsInUse(layout: ShardLayout): number[] {
    const shard = this.store.placement()?.shard;
    return shard === undefined ? [] : countsInUse(this.sockets.openIds(), shard, layout);
  }

  /** Stores what shard k needs to know about its tenant. */
  shardAdopt(record: ShardRecord): void {
    this.store.adopt(record);
  }

  /** Closes every socket (4000) and erases everything this object stores; from the first line on it has no tenant. */
  async shardWipe(): Promise<void> {
    this.store.forget();
    for (const part of [this.connectTokens, this.pipeline, this.delivery, this.keys]) part.forget();
    this.limiter.reset();
    this.alarms.forget();
    this.sockets.closeAll(CloseCode.TENANT_DELETED, 'tenant deleted');
    try {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
    } catch (err) {
      this.store.reload();
      throw err;
    }
  }

  // ---- WebSockets ----

  override fetch(request: Request): Promise<Response> {
    return upgrade(this.upgradeParts, request);
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (!this.delivery.v2.onMessage(ws, message)) this.sockets.onClientMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.delivery.v2.onGone(ws);
    this.sockets.onClientClose(ws, code, reason);
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.delivery.v2.onGone(ws);
    this.sockets.onError(ws, error);
  }

  /**
   * The object's one alarm, at the earliest of its due times: housekeeping (the keepalive sweep closes stale sockets
   * and forgets expired tokens, recounts backlogs and keeps watching closing sockets; history is trimmed, its lease renewed while mws.v2 sockets stay; shard 0 forgets
   * earlier shard counts no socket uses) and the webhook outbox.
   */
  override async alarm(): Promise<void> {
    if (this.store.placement() === null) return;
    const now = Date.now();
    const outboxDueAt = this.pipeline.nextDueAt();
    // Housekeeping when due, and whenever the alarm did not fire for the outbox (it may run early, e.g. in tests).
    const housekeeping = this.alarms.begin(now).housekeepingDue || outboxDueAt === null || outboxDueAt > now;
    let nextHousekeeping: number | null | 'not run' = 'not run';
    if (housekeeping) {
      const interval = this.config.keepaliveIntervalMs;
      const { open, closing } = this.sockets.sweep(now, interval);
      const sweepAt = nextSweepAt(now, interval, open + closing, this.connectTokens.purgeExpired(now), this.delivery.sweep(now));
      const settleAt = await this.store.settleLayout(now);
      nextHousekeeping = sweepAt === null ? settleAt : settleAt === null ? sweepAt : Math.min(sweepAt, settleAt);
    }
    const outboxNext = await this.pipeline.deliverDue(now, this.where());
    if (this.store.placement() === null) return;
    await this.alarms.end(nextHousekeeping, outboxNext);
  }

  // ---- internals ----

  /** "tenant acme shard 2", for log lines. */
  private where(): string {
    const placement = this.store.placement();
    return placement === null ? 'no tenant' : `tenant ${placement.tenant} shard ${placement.shard}`;
  }

  /** Lists this tenant in the tenant directory, which the Worker asks before it routes a request to a tenant. */
  private async listInDirectory(): Promise<void> {
    const { name, createdAt } = this.store.requireTenant();
    try {
      await directoryFor(this.env, name).add(name, createdAt);
    } catch (err) {
      console.error(`could not list tenant ${name} in the directory`, String(err));
      throw new ApiError(503, 'directory_unavailable', `Tenant "${name}" exists but could not be listed yet: GET /admin/tenants/${name} lists it.`, { headers: { 'retry-after': '1' } });
    }
  }

  /** Makes sure housekeeping (the sweep) runs within one keepalive interval. */
  private ensureAlarm(): Promise<void> {
    return this.alarms.sweepBy(Date.now() + this.config.keepaliveIntervalMs);
  }

  /** Events were queued: run the alarm by `at` to deliver them. */
  private wakeBy(at: number): void {
    this.alarms.wakeBy(at).catch((err: unknown) => console.error(`could not set the alarm (${this.where()})`, String(err)));
  }
}

function socketNotFound(id: string): ApiError {
  return new ApiError(404, 'socket_not_found', `No connected socket with id "${id}".`);
}
