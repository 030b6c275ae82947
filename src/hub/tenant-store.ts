import { DEFAULT_HISTORY_SETTINGS, historyPolicy, type HistoryPolicy } from '../core/history-rules';
import { ApiError } from '../core/errors';
import { PREVIOUS_LAYOUT_RECHECK_MS, type TenantLimits } from '../core/limits';
import { allShards, layoutSettlesAt, resize, withoutUnused, type ShardLayout } from '../core/shards';
import {
  configurationView,
  layoutOf,
  limitsOf,
  shardRecordFor,
  shardsEverUsed,
  type ConfigurationView,
  type ShardRecord,
  type TenantRecord,
} from '../core/tenant-record';
import { hashToken, randomToken } from '../core/tokens';
import type { AccessControl, ConfigurationUpdate } from '../core/validation';
import type { WebhookRecord } from '../core/webhook-record';
import { NO_WEBHOOKS, shardPlacement, tenantPlacement, type EventSettings, type Placement } from './placement';
import type { ShardCalls } from './shard-calls';

export type { EventSettings, Placement } from './placement';

const TENANT_KEY = 'tenant';
const SHARD_KEY = 'shard';

/** A change to the tenant record: the record to save and what the caller answers. */
export interface RecordEdit<T> {
  record: TenantRecord;
  result: T;
}

/**
 * The tenant's record (shard 0) or its shard's copy (shard k > 0), cached in memory, and every change to it:
 * configuration, limits, layout, webhooks; security tokens and signing keys through TenantCredentials. Each save
 * hands the other shards what they need. Changes run one at a time, so a delete never overtakes a save still copying
 * the record to the shards (which would leave a copy behind on a wiped shard).
 */
export class TenantStore {
  /** The tenant record as last read or written (undefined: not read yet in this life of the object). */
  private tenantCache: TenantRecord | null | undefined;
  /** Likewise for the record of a shard k > 0. */
  private shardRecordCache: ShardRecord | null | undefined;
  /** The placement computed from them; every push and connect asks for it. */
  private placementCache: Placement | null | undefined;
  /** Shard 0: when to look again for earlier shard counts to forget (memory only: after eviction it looks at once). */
  private settleRetryAt = 0;
  /** The change running now; the next one starts after it. */
  private changing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly shards: ShardCalls,
    private readonly connectTokenTtlMs: number,
    /** Called after this object's record changed (saved on shard 0, adopted on shard k). */
    private readonly changed: () => void = () => undefined,
  ) {}

  tenant(): TenantRecord | null {
    if (this.tenantCache === undefined) this.tenantCache = this.storage.kv.get<TenantRecord>(TENANT_KEY) ?? null;
    return this.tenantCache;
  }

  requireTenant(): TenantRecord {
    const tenant = this.tenant();
    if (tenant === null) throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
    return tenant;
  }

  placement(): Placement | null {
    if (this.placementCache === undefined) this.placementCache = this.computePlacement();
    return this.placementCache;
  }

  /** What this object's history keeps (the defaults when it has no tenant). */
  historyPolicy(): HistoryPolicy {
    return this.placement()?.history ?? historyPolicy(DEFAULT_HISTORY_SETTINGS, limitsOf({}));
  }

  private computePlacement(): Placement | null {
    const tenant = this.tenant();
    if (tenant !== null) return tenantPlacement(tenant);
    const shard = this.shardRecord();
    return shard === null ? null : shardPlacement(shard);
  }

  /** This object's shard number and what it needs to raise webhook events; without building a whole placement. */
  eventSettings(): EventSettings | null {
    const tenant = this.tenant();
    if (tenant !== null) return { shard: 0, webhooks: tenant.webhooks ?? NO_WEBHOOKS, clientMessages: tenant.clientMessages ?? 'ignore' };
    const shard = this.shardRecord();
    return shard === null ? null : { shard: shard.shard, webhooks: shard.webhooks ?? NO_WEBHOOKS, clientMessages: shard.clientMessages ?? 'ignore' };
  }

  create(name: string, accessControl: AccessControl, limits: Partial<TenantLimits>, shards: number) {
    return this.change(async () => {
      if (this.tenant() !== null) throw new ApiError(409, 'tenant_exists', `Tenant "${name}" already exists.`);
      const securityToken = randomToken('mws_');
      const record: TenantRecord = {
        name,
        accessControl,
        createdAt: Date.now(),
        securityTokenHashes: [await hashToken(securityToken)],
        limits,
        layout: { shards, previous: [] },
        reach: shards,
      };
      await this.save(record);
      return { name, securityToken, accessControl, limits: limitsOf(record), shards };
    });
  }

  setLimits(limits: Partial<TenantLimits>): Promise<{ limits: TenantLimits }> {
    return this.change(async () => {
      const tenant = this.requireTenant();
      const next = { ...tenant, limits: { ...tenant.limits, ...limits } };
      await this.save(next);
      return { limits: limitsOf(next) };
    });
  }

  /** Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are. */
  setShards(shards: number): Promise<ShardLayout> {
    return this.change(async () => {
      const tenant = this.requireTenant();
      const layout = resize(layoutOf(tenant), shards);
      if (layout === layoutOf(tenant)) return layout;
      await this.save({ ...tenant, layout, reach: Math.max(shardsEverUsed(tenant).length, shards), resizedAt: Date.now() });
      return layout;
    });
  }

  /** When shard 0 may forget the earlier shard counts; null when there are none. */
  layoutSettlesAt(): number | null {
    const tenant = this.tenant();
    if (tenant === null || layoutOf(tenant).previous.length === 0) return null;
    return layoutSettlesAt(tenant.resizedAt ?? 0, this.connectTokenTtlMs);
  }

  /**
   * Shard 0's alarm: once every token issued under the earlier shard counts has expired, forgets those that placed
   * no socket still connected on any shard. Returns when to look again (null: nothing left to forget).
   */
  async settleLayout(now: number): Promise<number | null> {
    const settlesAt = this.layoutSettlesAt();
    if (settlesAt === null) return null;
    const due = Math.max(settlesAt, this.settleRetryAt);
    if (now < due) return due;
    this.settleRetryAt = now + PREVIOUS_LAYOUT_RECHECK_MS;
    const remaining = await this.change(async () => {
      const tenant = this.tenant();
      if (tenant === null) return 0;
      const layout = layoutOf(tenant);
      const inUse = await this.shards.each(tenant.name, allShards(layout), (hub) => hub.shardCountsInUse(layout));
      const settled = withoutUnused(layout, new Set(inUse.flat()));
      if (settled.previous.length < layout.previous.length) await this.save({ ...tenant, layout: settled });
      return settled.previous.length;
    }).catch((err: unknown) => {
      console.warn(`could not settle the shard layout (tenant ${this.tenant()?.name})`, String(err));
      return 1;
    });
    return remaining > 0 ? this.settleRetryAt : null;
  }

  setConfiguration(update: ConfigurationUpdate): Promise<ConfigurationView> {
    return this.change(async () => {
      const tenant = this.requireTenant();
      const next: TenantRecord = { ...tenant, ...update, history: { ...tenant.history, ...update.history } };
      if (next.accessControl === 'jwt' && next.jwt === undefined) {
        throw ApiError.unprocessable([{ reason: 'required', property: 'jwt', message: 'accessControl "jwt" needs jwt settings: a key (secret, jwks or jwksUrl) and a policy.' }]);
      }
      const limits = limitsOf(next);
      const caps = [
        ['maxAgeSeconds', update.history?.maxAgeSeconds, limits.historyMaxAgeSeconds],
        ['maxMessages', update.history?.maxMessages, limits.historyMaxMessages],
      ] as const;
      const overCap = caps.filter(([, asked, cap]) => asked !== undefined && asked > cap);
      if (overCap.length > 0) {
        throw ApiError.unprocessable(
          overCap.map(([field, , cap]) => ({ reason: 'invalid_value', property: `history.${field}`, message: `history.${field} may be at most ${cap} on this tenant (the operator's cap).` })),
        );
      }
      await this.save(next);
      return configurationView(next);
    });
  }

  /**
   * Deletes the tenant: wipes every shard it ever had, then this one (`wipeHere`). A shard that does not answer
   * twice fails the delete with 503 before shard 0 is wiped, so the delete can be retried.
   */
  erase(wipeHere: () => Promise<void>): Promise<Record<string, never>> {
    return this.change(async () => {
      const tenant = this.requireTenant();
      const others = shardsEverUsed(tenant).filter((k) => k !== 0);
      const wipe = (shard: number) => this.shards.one(tenant.name, shard, (hub) => hub.shardWipe());
      const failed = (await Promise.allSettled(others.map(wipe))).flatMap((r, i) => (r.status === 'rejected' ? [others[i] as number] : []));
      const stillFailed = (await Promise.allSettled(failed.map(wipe))).filter((r) => r.status === 'rejected').length;
      if (stillFailed > 0) {
        throw new ApiError(503, 'shards_unavailable', `${stillFailed} shards did not answer; the tenant is not deleted yet. Retry the delete.`, {
          headers: { 'retry-after': '1' },
        });
      }
      await wipeHere();
      return {};
    });
  }

  /** Changes the tenant record: `edit` gets the current one and returns the next one and the answer. */
  update<T>(edit: (tenant: TenantRecord) => RecordEdit<T> | Promise<RecordEdit<T>>): Promise<T> {
    return this.change(async () => {
      const { record, result } = await edit(this.requireTenant());
      await this.save(record);
      return result;
    });
  }

  /** Changes the tenant's webhooks: `edit` gets the current record and returns the new list and the answer. */
  changeWebhooks<T>(edit: (tenant: TenantRecord) => { webhooks: WebhookRecord[]; result: T }): Promise<T> {
    return this.update((tenant) => {
      const { webhooks, result } = edit(tenant);
      return { record: { ...tenant, webhooks }, result };
    });
  }

  /** Stores what shard k needs to know about its tenant (called on shard k by shard 0). */
  adopt(record: ShardRecord): void {
    this.storage.kv.put(SHARD_KEY, record);
    this.shardRecordCache = record;
    this.placementCache = undefined;
    this.changed();
  }

  private shardRecord(): ShardRecord | null {
    if (this.shardRecordCache === undefined) this.shardRecordCache = this.storage.kv.get<ShardRecord>(SHARD_KEY) ?? null;
    return this.shardRecordCache;
  }

  /** Forgets the tenant at once, as its storage is being erased: from now on this object has no tenant. */
  forget(): void {
    this.tenantCache = null;
    this.shardRecordCache = null;
    this.placementCache = undefined;
  }

  /** Reads the records from storage again (after an erase that failed). */
  reload(): void {
    this.tenantCache = undefined;
    this.shardRecordCache = undefined;
    this.placementCache = undefined;
  }

  /** Runs `change` after the changes before it have finished. */
  private change<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changing.then(change);
    this.changing = run.catch(() => undefined);
    return run;
  }

  /** Saves the tenant record and hands every other shard the part it needs. */
  private async save(record: TenantRecord): Promise<void> {
    this.storage.kv.put(TENANT_KEY, record);
    this.tenantCache = record;
    this.placementCache = undefined;
    this.changed();
    const others = shardsEverUsed(record).filter((k) => k !== 0);
    await this.shards.each(record.name, others, (hub, shard) => hub.shardAdopt(shardRecordFor(record, shard)));
  }
}
