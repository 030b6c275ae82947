/** Token buckets and fixed windows, as pure functions over plain state. */

export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface BucketRule {
  /** Sustained rate. */
  perSecond: number;
  /** Largest burst; a fresh bucket starts full. */
  burst: number;
}

/** Takes one token at `now`. When none is left, says how many whole seconds until one is. */
export function takeToken(bucket: Bucket | undefined, rule: BucketRule, now: number): { bucket: Bucket; allowed: boolean; retryAfterSeconds: number } {
  const current = bucket ?? { tokens: rule.burst, updatedAt: now };
  const refilled = Math.min(rule.burst, current.tokens + ((now - current.updatedAt) / 1000) * rule.perSecond);
  if (refilled >= 1) return { bucket: { tokens: refilled - 1, updatedAt: now }, allowed: true, retryAfterSeconds: 0 };
  const retryAfterSeconds = Math.max(1, Math.ceil((1 - refilled) / rule.perSecond));
  return { bucket: { tokens: refilled, updatedAt: now }, allowed: false, retryAfterSeconds };
}

export interface Window {
  startedAt: number;
  count: number;
}

/** Counts one event in a fixed window; `exceeded` once more than `max` fall in `windowMs`. */
export function countInWindow(window: Window | undefined, max: number, windowMs: number, now: number): { window: Window; exceeded: boolean } {
  const current = window === undefined || now - window.startedAt >= windowMs ? { startedAt: now, count: 0 } : window;
  const next = { startedAt: current.startedAt, count: current.count + 1 };
  return { window: next, exceeded: next.count > max };
}
