import { ApiError } from '../core/errors';
import { allShards, encodeCursor, idsByShard, shardsForId, type Cursor } from '../core/shards';
import { layoutOf, type TenantRecord } from '../core/tenant-record';
import type { Receivers } from '../core/validation';
import type { ShardCalls } from './shard-calls';
import type { OutboundMessage } from './publish';
import type { SocketInfo, SocketPage } from '../../sdk/src/protocol';

export type { SocketPage };

/** For a push with an Idempotency-Key: the shards that already delivered it, and a hook for each that completes. */
export interface KeyedFanOut {
  done: ReadonlyMap<number, number>;
  onShardDone: (shard: number, sent: number) => void;
}

/**
 * Delivers on every shard a push can reach, in parallel: id pushes only where those ids live, tag and `"*"`
 * pushes everywhere. A shard that fails is tried once more; if it fails again the push is answered 503 with what
 * was delivered. Without an Idempotency-Key a blind retry would duplicate on the shards that succeeded; with one,
 * shards in `keyed.done` are skipped and each shard sends a keyed message id at most once.
 */
export async function fanOut(shards: ShardCalls, tenant: TenantRecord, receivers: Receivers, message: OutboundMessage, keyed?: KeyedFanOut): Promise<number> {
  const layout = layoutOf(tenant);
  const { sockets, tags } = receivers;
  const everywhere = (sockets?.includes('*') ?? false) || (tags?.length ?? 0) > 0;
  const byShard = idsByShard(sockets?.includes('*') ? [] : (sockets ?? []), layout);
  // Remote shards first: shard 0 sends synchronously, and the others should not wait for it.
  const targets = (everywhere ? allShards(layout) : [...byShard.keys()])
    .filter((shard) => !(keyed?.done.has(shard) ?? false))
    .sort((a, b) => Number(a === 0) - Number(b === 0));
  const receiversFor = (shard: number): Receivers =>
    sockets?.includes('*') ? { sockets: ['*'], tags: null } : { sockets: byShard.get(shard) ?? null, tags };
  const deliver = async (shard: number) => {
    const sent = await shards.one(tenant.name, shard, (hub) => hub.shardDeliver(receiversFor(shard), message, keyed !== undefined));
    keyed?.onShardDone(shard, sent);
    return sent;
  };
  const settled = await Promise.allSettled(targets.map(deliver));
  let sent = [...(keyed?.done.values() ?? [])].reduce((a, b) => a + b, 0);
  let failed = 0;
  for (const [i, result] of settled.entries()) {
    if (result.status === 'fulfilled') sent += result.value;
    else {
      const retry = await deliver(targets[i] as number).catch(() => null);
      if (retry === null) failed++;
      else sent += retry;
    }
  }
  if (failed > 0) {
    const advice = keyed === undefined ? 'a retry may duplicate' : 'retry with the same Idempotency-Key to deliver on the shards that missed it, and nowhere twice';
    throw new ApiError(503, 'partial_delivery', `Delivered to ${sent} sockets, but ${failed} of ${targets.length} shards did not answer; ${advice}.`, {
      headers: { 'retry-after': '1' },
    });
  }
  return sent;
}

/** Connected sockets (with `tag`, when given), a page at a time, shard after shard, in id order within a shard. */
export async function listPage(shards: ShardCalls, tenant: TenantRecord, limit: number, cursor: Cursor | null, tag?: string): Promise<SocketPage> {
  const collected: { shard: number; info: SocketInfo }[] = [];
  for (const shard of allShards(layoutOf(tenant))) {
    if (cursor !== null && shard < cursor.shard) continue;
    const after = cursor !== null && shard === cursor.shard ? cursor.after : '';
    const page = await shards.one(tenant.name, shard, (hub) => hub.shardList(after, limit + 1 - collected.length, tag));
    collected.push(...page.map((info) => ({ shard, info })));
    if (collected.length > limit) break;
  }
  if (collected.length <= limit) return { results: collected.map((c) => c.info), cursor: null };
  const shown = collected.slice(0, limit);
  const last = shown[shown.length - 1] as { shard: number; info: SocketInfo };
  return { results: shown.map((c) => c.info), cursor: encodeCursor({ shard: last.shard, after: last.info.id }) };
}

/** The socket with this id on whichever shard holds it, or null. */
export async function findSocket(shards: ShardCalls, tenant: TenantRecord, id: string): Promise<SocketInfo | null> {
  const found = await shards.each(tenant.name, shardsForId(id, layoutOf(tenant)), (hub) => hub.shardGet(id));
  return found.find((s) => s !== null) ?? null;
}

/** Closes the sockets with this id wherever they are; returns how many were closed. */
export async function closeSocket(shards: ShardCalls, tenant: TenantRecord, id: string): Promise<number> {
  const closed = await shards.each(tenant.name, shardsForId(id, layoutOf(tenant)), (hub) => hub.shardClose(id));
  return closed.reduce((a, b) => a + b, 0);
}

/** Open sockets on every shard. */
export async function countSockets(shards: ShardCalls, tenant: TenantRecord): Promise<number> {
  const counts = await shards.each(tenant.name, allShards(layoutOf(tenant)), (hub) => hub.shardCount());
  return counts.reduce((a, b) => a + b, 0);
}
