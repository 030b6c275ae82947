import { DurableObject } from 'cloudflare:workers';
import { subjectTags, type Action } from '../core/access';
import { readConfig, type Config } from '../core/config';
import { ApiError, settle, type Outcome } from '../core/errors';
import { nextSweepAt } from '../core/keepalive';
import type { TenantLimits } from '../core/limits';
import { countsInUse, shardOf, tokenForShard, type Cursor, type ShardLayout } from '../core/shards';
import { configurationView, layoutOf, limitsOf, type ConfigurationView, type ShardRecord, type TenantInfo } from '../core/tenant-record';
import { randomToken } from '../core/tokens';
import type { AccessControl, ConfigurationUpdate, PushRequest, Receivers, SocketRequest } from '../core/validation';
import { CloseCode } from './close-codes';
import { ConnectTokens } from './connect-tokens';
import { closeSocket, countSockets, fanOut, findSocket, listPage, type SocketPage } from './fan-out';
import { RateLimiter } from './rate-limiter';
import { ShardCalls } from './shard-calls';
import { Sockets, type SocketInfo } from './sockets';
import { TenantStore } from './tenant-store';
import { upgrade, type UpgradeParts } from './upgrade';

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
 * One tenant, or one shard of a large tenant: configuration (shard 0 only), connect-token reservations and
 * hibernatable WebSockets. Shard 0 answers every REST call and fans out to the other shards; a one-shard
 * tenant never leaves its object. RPC methods return Outcomes (ApiErrors as data); socket handlers never throw.
 * Each method only delegates: the record to TenantStore, sockets to Sockets, shards to fan-out, tokens to ConnectTokens.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private readonly shards: ShardCalls;
  private readonly store: TenantStore;
  private readonly sockets: Sockets;
  private readonly connectTokens: ConnectTokens;
  private readonly limiter = new RateLimiter();
  private alarmKnownSet = false;
  private readonly upgradeParts: UpgradeParts;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see core/keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.shards = new ShardCalls(this, env.TENANT_HUB, () => this.store.placement()?.shard ?? 0);
    this.store = new TenantStore(ctx.storage, this.shards, this.config.connectTokenTtlMs);
    this.sockets = new Sockets(ctx, () => this.where());
    this.connectTokens = new ConnectTokens(ctx.storage);
    const { store, sockets, connectTokens, limiter, shards } = this;
    this.upgradeParts = { store, sockets, connectTokens, limiter, shards, ensureAlarm: () => this.ensureAlarm(), where: () => this.where() };
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  createTenant(name: string, accessControl: AccessControl, limits: Partial<TenantLimits> = {}, shards = 1) {
    return settle(() => this.store.create(name, accessControl, limits, shards));
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
      return {
        name: tenant.name,
        accessControl: tenant.accessControl,
        createdAt: new Date(tenant.createdAt).toISOString(),
        securityTokens: tenant.securityTokenHashes.length,
        sockets: await countSockets(this.shards, tenant),
        limits: limitsOf(tenant),
        shards: layoutOf(tenant).shards,
        previousShards: layoutOf(tenant).previous,
      };
    });
  }

  rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(() => this.store.rotateSecurityToken());
  }

  revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(() => this.store.revokePreviousSecurityTokens());
  }

  /** Closes every socket on every shard the tenant ever had and erases all it stored. */
  deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(() => this.store.erase(() => this.shardWipe()));
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
      this.limiter.spend('push', limitsOf(tenant));
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
      const shard = shardOf(id, layoutOf(tenant).shards);
      const secret = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      if (!(await this.shards.one(tenant.name, shard, (hub) => hub.shardReserve(secret, id, tags, expiresAt)))) {
        throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
      }
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
    return settle(() => this.store.authorize(bearer, 'manage').then(() => this.store.setConfiguration(update)));
  }

  createSigningKey(bearer: string | null) {
    return settle(() => this.store.authorize(bearer, 'manage').then(() => this.store.createSigningKey()));
  }

  listSigningKeys(bearer: string | null) {
    return settle(async () => this.store.listSigningKeys((await this.store.authorize(bearer, 'manage')).tenant));
  }

  deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(() => this.store.authorize(bearer, 'manage').then(() => this.store.deleteSigningKey(kid)));
  }

  // ---- Shard API: what shard 0 asks of every shard (itself included, without a hop) ----

  /** Sends `data` to this shard's matching sockets; returns how many it was written to. */
  shardDeliver(receivers: Receivers, data: string): number {
    return this.sockets.deliver(receivers, data);
  }

  /** Stores a reservation; false when this shard has no tenant (it was deleted meanwhile). */
  async shardReserve(secret: string, id: string, tags: string[], expiresAt: number): Promise<boolean> {
    if (this.store.placement() === null || !(await this.connectTokens.reserve(secret, { id, tags }, expiresAt))) return false;
    await this.ensureAlarm();
    return true;
  }

  /** Up to `limit` open sockets with ids after `after`, in id order. */
  shardList(after: string, limit: number): SocketInfo[] {
    return this.sockets.list(after, limit);
  }

  shardGet(id: string): SocketInfo | null {
    return this.sockets.get(id);
  }

  /** Closes the sockets with this id (4001); returns how many. */
  shardClose(id: string): number {
    return this.sockets.close(id, CloseCode.REMOVED, 'removed by the backend');
  }

  /** Closes this shard's sockets with this id (4003): a newer connection with the id was accepted on another shard. */
  shardReplace(id: string): number {
    return this.sockets.close(id, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
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
    this.connectTokens.forget();
    this.limiter.reset();
    this.alarmKnownSet = false;
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

  override webSocketMessage(ws: WebSocket): void {
    this.sockets.onClientMessage(ws);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.sockets.onClientClose(ws, code);
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.sockets.onError(ws, error);
  }

  /**
   * The keepalive sweep: closes stale sockets, forgets expired tokens and (shard 0) earlier shard counts no socket
   * uses any more, and stops when nothing is left to watch.
   */
  override async alarm(): Promise<void> {
    this.alarmKnownSet = false;
    if (this.store.placement() === null) return;
    const now = Date.now();
    const open = this.sockets.sweep(now, this.config.keepaliveIntervalMs);
    const pending = this.connectTokens.purgeExpired(now);
    const sweepAt = nextSweepAt(now, this.config.keepaliveIntervalMs, open, pending);
    const settleAt = await this.store.settleLayout(now);
    if (this.store.placement() === null) return;
    const next = sweepAt === null ? settleAt : settleAt === null ? sweepAt : Math.min(sweepAt, settleAt);
    if (next !== null) {
      await this.ctx.storage.setAlarm(next);
      this.alarmKnownSet = true;
    }
  }

  // ---- internals ----

  /** "tenant acme shard 2", for log lines. */
  private where(): string {
    const placement = this.store.placement();
    return placement === null ? 'no tenant' : `tenant ${placement.tenant} shard ${placement.shard}`;
  }

  private async ensureAlarm(): Promise<void> {
    if (this.alarmKnownSet) return;
    const alarm = await this.ctx.storage.getAlarm();
    // Erased meanwhile: an alarm would be all that is left of the tenant.
    if (this.store.placement() === null) return;
    if (alarm === null) await this.ctx.storage.setAlarm(Date.now() + this.config.keepaliveIntervalMs);
    this.alarmKnownSet = true;
  }
}

function socketNotFound(id: string): ApiError {
  return new ApiError(404, 'socket_not_found', `No connected socket with id "${id}".`);
}
