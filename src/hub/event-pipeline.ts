import type { DeliveryList } from '../../sdk/src/protocol';
import type { Config } from '../core/config';
import { WEBHOOK_RUN_INTERVAL_MS } from '../core/limits';
import type { TenantRecord } from '../core/tenant-record';
import { Outbox } from './outbox';
import { outboxHandlers } from './outbox-targets';
import { TagOccupancy, type TagChange } from './presence';
import type { ShardCalls } from './shard-calls';
import { SocketEvents, TAG_REPORTS_TARGET } from './socket-events';
import type { TenantStore } from './tenant-store';
import { Webhooks, type WebhookCommand } from './webhooks';
import type { WriteBehind } from './write-behind';

/**
 * Everything webhooks need in one object, wired once: socket events (SocketEvents) into the durable Outbox, tag
 * occupancy across shards (TagOccupancy), and webhook management (Webhooks). Delivery runs from the object's alarm,
 * runs at least WEBHOOK_RUN_INTERVAL_MS apart; `wake` asks for one.
 */
export class EventPipeline {
  /** Hears sockets come, go and talk; hand it to Sockets. */
  readonly events: SocketEvents;
  private readonly outbox: Outbox;
  private readonly occupancy: TagOccupancy;
  private readonly webhooks: Webhooks;
  /** When the last delivery run began (0: none in this life of the object). */
  private lastRunAt = 0;

  constructor(
    ctx: DurableObjectState,
    private readonly store: TenantStore,
    shards: ShardCalls,
    config: Config,
    later: WriteBehind,
    wake: (at: number) => void,
  ) {
    this.outbox = new Outbox(ctx.storage, outboxHandlers(store, shards, config));
    this.occupancy = new TagOccupancy(ctx.storage);
    this.events = new SocketEvents(ctx, () => store.eventSettings(), this.outbox, this.occupancy, later, () => wake(this.nextRunAt()));
    this.webhooks = new Webhooks(store, shards);
  }

  manage(tenant: TenantRecord, command: WebhookCommand): Promise<unknown> {
    return this.webhooks.run(tenant, command);
  }

  /** Shard 0: a shard gave up on a webhook. */
  disable(webhookId: string, reason: string): Promise<void> {
    return this.webhooks.disable(webhookId, reason);
  }

  /** Shard 0: another shard's tags became occupied or vacant. */
  applyTagReports(shard: number, changes: (TagChange & { seq: number })[]): void {
    this.events.applyTagReports(shard, changes);
  }

  /** This object's part of `GET /v1/webhooks/{id}/deliveries`. */
  deliveries(webhookId: string, limit: number): DeliveryList {
    return { results: this.outbox.deliveries(webhookId, limit), backlog: this.outbox.backlogOf(webhookId) };
  }

  /** When the outbox next has something to deliver, or null. */
  nextDueAt(): number | null {
    return this.paced(this.outbox.nextDueAt());
  }

  /** Delivers what was due when it began; never throws. Returns when to come back. */
  async deliverDue(now: number, where: string): Promise<number | null> {
    this.lastRunAt = now;
    try {
      return this.paced(await this.outbox.deliverDue(now));
    } catch (err) {
      console.error(`webhook delivery failed (${where})`, err instanceof Error ? (err.stack ?? err.message) : String(err));
      return Date.now() + 5_000;
    }
  }

  /** The tenant's webhooks changed: stop delivering to deleted or disabled ones, and forget what nothing needs. */
  settingsChanged(): void {
    const settings = this.store.eventSettings();
    const keep = new Set((settings?.webhooks ?? []).filter((hook) => hook.disabled === null).map((hook) => hook.id));
    if (settings !== null && settings.shard > 0) keep.add(TAG_REPORTS_TARGET);
    this.outbox.retain(keep);
    this.events.settingsChanged();
  }

  /** Reports the sockets a restart dropped; see SocketEvents.reconcile. */
  reconcile(): void {
    this.events.reconcile();
  }

  /** Not before the next delivery run may start. */
  private paced(dueAt: number | null): number | null {
    return dueAt === null ? null : Math.max(dueAt, this.nextRunAt());
  }

  /** WEBHOOK_RUN_INTERVAL_MS after the last delivery run began. */
  private nextRunAt(): number {
    return this.lastRunAt + WEBHOOK_RUN_INTERVAL_MS;
  }

  /** The object's storage is being erased: forget what memory holds; tables come back only with a tenant. */
  forget(): void {
    this.outbox.forget();
    this.occupancy.forget();
    this.events.forget();
  }
}
