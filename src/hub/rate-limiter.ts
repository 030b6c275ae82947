import { ApiError } from '../core/errors';
import { burstFor } from '../core/limits';
import { takeToken, type Bucket } from '../core/rate-limit';

type Kind = 'push' | 'connect';

/** The object's push and connect buckets. In memory: an evicted object was idle, so its buckets were full anyway. */
export class RateLimiter {
  private readonly buckets = new Map<Kind, Bucket>();

  /** Takes one token or throws a 429 with Retry-After. */
  spend(kind: Kind, perSecond: number): void {
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
  }
}
