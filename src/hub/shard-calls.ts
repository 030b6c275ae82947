import { stubByName } from '../core/object-ids';
import { shardObjectName } from '../core/shards';
import type { TenantHub } from './tenant-hub';

/** The shard methods, as one shard calls them on itself or on another shard's stub. */
export type ShardApi = Pick<
  TenantHub,
  | 'shardDeliver'
  | 'shardReserve'
  | 'shardList'
  | 'shardGet'
  | 'shardClose'
  | 'shardReplace'
  | 'shardSpendJti'
  | 'shardCount'
  | 'shardCountTags'
  | 'shardCountsInUse'
  | 'shardAdopt'
  | 'shardWipe'
  | 'shardDeliveries'
  | 'shardTagReports'
  | 'shardDisableWebhook'
>;

/** Calls shard methods of one tenant: on this object directly for its own shard, through a stub for the others. */
export class ShardCalls {
  constructor(
    private readonly self: ShardApi,
    private readonly namespace: DurableObjectNamespace<TenantHub>,
    /** The shard this object is (0 until it knows better: shard 0 is the tenant's own object). */
    private readonly selfShard: () => number,
  ) {}

  async one<T>(tenant: string, shard: number, call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>> {
    if (shard === this.selfShard()) return await call(this.self, shard);
    const stub = stubByName(this.namespace, shardObjectName(tenant, shard)) as unknown as ShardApi;
    return await call(stub, shard);
  }

  each<T>(tenant: string, shards: readonly number[], call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>[]> {
    return Promise.all(shards.map((shard) => this.one(tenant, shard, call)));
  }
}
