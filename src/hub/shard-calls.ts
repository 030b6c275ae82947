import { shardObjectName } from '../core/shards';
import type { TenantHub } from './tenant-hub';

/** The shard methods, as shard 0 calls them on itself or on another shard's stub. */
export type ShardApi = Pick<
  TenantHub,
  | 'shardDeliver'
  | 'shardReserve'
  | 'shardList'
  | 'shardGet'
  | 'shardClose'
  | 'shardCount'
  | 'shardCountTags'
  | 'shardAdopt'
  | 'shardWipe'
  | 'shardDeliveries'
  | 'shardTagReports'
  | 'shardDisableWebhook'
>;

/** Calls shard methods of one tenant: on this object directly when it is that shard, through a stub otherwise. */
export class ShardCalls {
  constructor(
    private readonly self: ShardApi,
    private readonly namespace: DurableObjectNamespace<TenantHub>,
    /** Which shard this object is (shard 0 calls the others; shard k calls shard 0 with tag reports). */
    private readonly selfShard: () => number,
  ) {}

  async one<T>(tenant: string, shard: number, call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>> {
    if (shard === this.selfShard()) return await call(this.self, shard);
    const stub = this.namespace.get(this.namespace.idFromName(shardObjectName(tenant, shard))) as unknown as ShardApi;
    return await call(stub, shard);
  }

  each<T>(tenant: string, shards: readonly number[], call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>[]> {
    return Promise.all(shards.map((shard) => this.one(tenant, shard, call)));
  }
}
