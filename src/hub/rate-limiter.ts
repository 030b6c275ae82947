import { ApiError } from '../core/errors';
import { burstFor, type TenantLimits } from '../core/limits';
import { takeToken, type Bucket } from '../core/rate-limit';

type Kind = 'push' | 'connect';

/**
 * The object's push and connect buckets. In memory: an evicted object was idle, so its buckets were full anyway.
 * Buckets start full again only when the operator's limits change; the tenant rewriting its own record
 * (configuration, signing keys) leaves them as they are.
 */
export class RateLimiter {
  private readonly buckets = new Map<Kind, Bucket>();
  private limits: TenantLimits | null = null;

  /** Takes one token or throws a 429 with Retry-After. */
  spend(kind: Kind, limits: TenantLimits): void {
    if (this.limits !== limits && !sameLimits(this.limits, limits)) this.buckets.clear();
    this.limits = limits;
    const perSecond = kind === 'push' ? limits.pushesPerSecond : limits.connectsPerSecond;
    const result = takeToken(this.buckets.get(kind), { perSecond, burst: burstFor(perSecond) }, Date.now());
    this.buckets.set(kind, result.bucket);
    if (!result.allowed) {
      throw new ApiError(429, 'rate_limited', `Too many ${kind === 'push' ? 'pushes' : 'connection attempts'}: this tenant allows ${perSecond} per second.`, {
        headers: { 'retry-after': String(result.retryAfterSeconds) },
      });
    }
  }

  reset(): void {
    this.buckets.clear();
    this.limits = null;
  }
}

function sameLimits(a: TenantLimits | null, b: TenantLimits): boolean {
  return a !== null && (Object.keys(b) as (keyof TenantLimits)[]).every((k) => a[k] === b[k]);
}
