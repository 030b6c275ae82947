import { decodeJwt } from 'jose';
import { looksLikeJwt } from '../core/jwt';
import { shardFromToken, shardOf, type ShardLayout } from '../core/shards';
import type { TenantHub } from '../hub/tenant-hub';

/** Shard layouts seen recently, per tenant, so a backend-minted token on a sharded tenant rarely costs a lookup. */
const layoutCache = new Map<string, { layout: ShardLayout; until: number }>();
const LAYOUT_CACHE_MS = 60_000;

/**
 * The shard an upgrade goes to: opaque tokens carry it as a prefix; a backend-minted JWT names its socket id
 * (`sid`, read here unverified: the shard verifies it), which hashes to a shard of the tenant's layout.
 */
export async function shardForConnect(tenant: string, token: string, shardZero: () => DurableObjectStub<TenantHub>): Promise<number> {
  if (!looksLikeJwt(token)) return shardFromToken(token);
  const sid = unverifiedSid(token);
  if (sid === null) return 0;
  const cached = layoutCache.get(tenant);
  let layout = cached !== undefined && cached.until > Date.now() ? cached.layout : null;
  if (layout === null) {
    layout = await shardZero().shardLayout();
    if (layout === null) return 0;
    layoutCache.set(tenant, { layout, until: Date.now() + LAYOUT_CACHE_MS });
  }
  return shardOf(sid, layout.shards);
}

function unverifiedSid(jwt: string): string | null {
  try {
    const { sid } = decodeJwt(jwt);
    return typeof sid === 'string' ? sid : null;
  } catch {
    return null;
  }
}
