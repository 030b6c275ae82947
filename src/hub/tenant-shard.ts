import { DurableObject } from 'cloudflare:workers';
import type { DeliveryList } from '../../sdk/src/protocol';
import { readConfig, type Config } from '../core/config';
import { nextSweepAt } from '../core/keepalive';
import { countsInUse, type ShardLayout } from '../core/shards';
import type { ShardRecord } from '../core/tenant-record';
import type { Receivers } from '../core/validation';
import { AlarmSchedule } from './alarm';
import { CloseCode } from '../core/close-codes';
import { ConnectTokens, type Grant } from './connect-tokens';
import { EventPipeline } from './event-pipeline';
import { IdempotencyKeys } from './idempotency';
import type { TagChange } from './presence';
import type { OutboundMessage } from './publish';
import { RateLimiter } from './rate-limiter';
import { ShardCalls } from './shard-calls';
import { ShardDelivery } from './shard-delivery';
import { Sockets, type SocketInfo } from './sockets';
import { TenantStore } from './tenant-store';
import { upgrade, type UpgradeParts } from './upgrade';
import { WriteBehind } from './write-behind';

/**
 * What every object of a tenant does, shard 0 included: the wiring of its parts, the Shard API that shard 0 calls on
 * each shard, the socket handlers and the alarm. TenantHub adds the Admin and Tenant APIs that shard 0 answers.
 */
export abstract class TenantShard extends DurableObject<Env> {
  protected readonly config: Config;
  protected readonly shards: ShardCalls;
  protected readonly store: TenantStore;
  private readonly sockets: Sockets;
  private readonly connectTokens: ConnectTokens;
  private readonly delivery: ShardDelivery;
  protected readonly keys: IdempotencyKeys;
  protected readonly limiter = new RateLimiter();
  private readonly alarms: AlarmSchedule;
  protected readonly pipeline: EventPipeline;
  private readonly upgradeParts: UpgradeParts;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see core/keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.shards = new ShardCalls(this, env.TENANT_HUB, () => this.store.placement()?.shard ?? 0);
    this.store = new TenantStore(ctx.storage, this.shards, this.config.connectTokenTtlMs, () => this.pipeline.settingsChanged());
    this.alarms = new AlarmSchedule(ctx.storage, () => this.store.placement() !== null);
    const later = new WriteBehind();
    this.pipeline = new EventPipeline(ctx, this.store, this.shards, this.config, later, (at) => this.wakeBy(at));
    this.sockets = new Sockets(ctx, () => this.where(), this.pipeline.events);
    this.connectTokens = new ConnectTokens(ctx.storage, later);
    // History ages out on the alarm even when no socket keeps it running.
    this.delivery = new ShardDelivery(ctx.storage, this.sockets, this.store, this.config.keepaliveIntervalMs, () => this.where(), () => void this.ensureAlarm());
    this.keys = new IdempotencyKeys(ctx.storage);
    this.pipeline.reconcile();
    const { store, sockets, connectTokens, limiter, shards } = this;
    const v2 = this.delivery.v2;
    this.upgradeParts = { store, sockets, connectTokens, limiter, shards, v2, ensureAlarm: () => this.ensureAlarm(), where: () => this.where() };
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

  /** Makes sure housekeeping (the sweep) runs within one keepalive interval. */
  protected ensureAlarm(): Promise<void> {
    return this.alarms.sweepBy(Date.now() + this.config.keepaliveIntervalMs);
  }

  /** Events were queued: run the alarm by `at` to deliver them. */
  private wakeBy(at: number): void {
    this.alarms.wakeBy(at).catch((err: unknown) => console.error(`could not set the alarm (${this.where()})`, String(err)));
  }
}
