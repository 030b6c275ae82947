import { MAX_CACHED_TENANTS, TENANT_CACHE_MS } from '../core/limits';
import { TtlCache } from '../core/ttl-cache';
import { directoryFor } from '../directory/tenant-directory';

/** Tenants this isolate saw in the directory lately. A deleted one stays here a minute: its object then answers 404. */
const known = new TtlCache<string, true>(MAX_CACHED_TENANTS, TENANT_CACHE_MS);

/**
 * Whether a tenant of this name exists, as the tenant directory says; asked before any request reaches a tenant's
 * object. Answers true when the directory cannot be reached: the tenant's object then decides, as it always can.
 */
export async function tenantKnown(env: Env, tenant: string): Promise<boolean> {
  if (known.get(tenant) === true) return true;
  let found: boolean;
  try {
    found = await directoryFor(env, tenant).has(tenant);
  } catch (err) {
    console.error(`tenant directory unavailable, routing "${tenant}" to its object`, String(err));
    return true;
  }
  if (found) known.set(tenant, true);
  return found;
}
