import { decodeJwt } from 'jose';
import { CloseCode, refuseUpgrade, UNKNOWN_TOKEN_REASON } from '../core/close-codes';
import { ApiError } from '../core/errors';
import { looksLikeJwt } from '../core/jwt';
import { LAYOUT_CACHE_MS, MAX_CACHED_LAYOUTS } from '../core/limits';
import { TtlCache } from '../core/ttl-cache';
import { allShards, MISDIRECTED_STATUS, ROUTED_SHARD_HEADER, shardFromToken, shardOf, type ShardLayout } from '../core/shards';
import type { TenantHub } from '../hub/tenant-hub';

/**
 * Shard layouts seen recently, per tenant, so a backend-minted token on a sharded tenant rarely costs a lookup.
 * A stale entry costs one more hop, never a wrong answer: the shard checks that the socket belongs there.
 */
const layoutCache = new TtlCache<string, ShardLayout>(MAX_CACHED_LAYOUTS, LAYOUT_CACHE_MS);

/**
 * Sends a WebSocket upgrade to its shard. Opaque tokens carry it as a prefix. A backend-minted JWT names its socket
 * id (`sid`, read here unverified: the shard verifies it), which hashes to a shard of the tenant's layout; a shard
 * that the current layout does not give that id answers 421, and the upgrade is routed once more by a fresh layout.
 */
export async function routeUpgrade(tenant: string, request: Request, token: string, stubFor: (shard: number) => DurableObjectStub<TenantHub>): Promise<Response> {
  if (!looksLikeJwt(token)) {
    const shard = shardFromToken(token);
    if (shard > 0 && !(await tenantHasShard(tenant, shard, stubFor(0)))) return refuseUpgrade(request, CloseCode.INVALID_TOKEN, UNKNOWN_TOKEN_REASON);
    return stubFor(shard).fetch(request);
  }
  const sid = unverifiedSid(token);
  for (const fresh of [false, true]) {
    const layout = sid === null ? null : await layoutOf(tenant, stubFor(0), fresh);
    const shard = sid === null || layout === null ? 0 : shardOf(sid, layout.shards);
    const headers = new Headers(request.headers);
    headers.set(ROUTED_SHARD_HEADER, String(shard));
    const response = await stubFor(shard).fetch(new Request(request, { headers }));
    if (response.status !== MISDIRECTED_STATUS) return response;
    layoutCache.delete(tenant);
  }
  throw new ApiError(503, 'layout_changing', 'The tenant is changing its shard count; retry in a moment.', { headers: { 'retry-after': '1' } });
}

/** Whether a token's shard prefix names a shard the tenant has (or had, under a layout still remembered). */
async function tenantHasShard(tenant: string, shard: number, shardZero: DurableObjectStub<TenantHub>): Promise<boolean> {
  const cached = layoutCache.get(tenant);
  if (cached !== undefined && allShards(cached).includes(shard)) return true;
  const layout = await layoutOf(tenant, shardZero, true);
  return layout !== null && allShards(layout).includes(shard);
}

async function layoutOf(tenant: string, shardZero: DurableObjectStub<TenantHub>, fresh: boolean): Promise<ShardLayout | null> {
  const cached = fresh ? undefined : layoutCache.get(tenant);
  if (cached !== undefined) return cached;
  const layout = await shardZero.shardLayout();
  if (layout === null) layoutCache.delete(tenant);
  else layoutCache.set(tenant, layout);
  return layout;
}

function unverifiedSid(jwt: string): string | null {
  try {
    const { sid } = decodeJwt(jwt);
    return typeof sid === 'string' ? sid : null;
  } catch {
    return null;
  }
}
