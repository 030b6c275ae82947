import { MAX_WEBHOOK_BATCH_BYTES, MAX_WEBHOOK_BATCH_EVENTS, WEBHOOK_DISABLE_AFTER_MS, WEBHOOK_RETRY_DELAYS_MS } from './limits';

/** Delivery rules as pure functions: when to retry, when to give up, what goes in one POST. */

/** The wait before the next attempt after `failedAttempts` failures in a row (>= 1); `random` in [0, 1) jitters it. */
export function retryDelayMs(failedAttempts: number, random: number): number {
  const index = Math.min(Math.max(failedAttempts, 1), WEBHOOK_RETRY_DELAYS_MS.length) - 1;
  const base = WEBHOOK_RETRY_DELAYS_MS[index] as number;
  return Math.round(base * (0.8 + 0.4 * random));
}

/** A webhook failing without a success since `failingSince` is disabled at its next failure from this moment on. */
export function disableAt(failingSince: number): number {
  return failingSince + WEBHOOK_DISABLE_AFTER_MS;
}

/**
 * How many of the queued events (their serialized sizes, oldest first) go in the next POST: as many as fit the
 * event and byte caps, and always at least one so an event larger than the byte cap still goes out, alone.
 */
export function batchSize(eventBytes: readonly number[], maxEvents = MAX_WEBHOOK_BATCH_EVENTS, maxBytes = MAX_WEBHOOK_BATCH_BYTES): number {
  let bytes = 0;
  let count = 0;
  for (const size of eventBytes) {
    if (count >= maxEvents || (count > 0 && bytes + size > maxBytes)) break;
    bytes += size;
    count++;
  }
  return count;
}

/** The outcome of one POST, as the deliveries list shows it. */
export interface Attempt {
  ok: boolean;
  /** HTTP status, or null when no answer came (timeout, connection refused). */
  status: number | null;
  latencyMs: number;
  error: string | null;
  /** The first characters of the answer's body. */
  response: string | null;
  /** 410 Gone: the receiver asks never to be called again. */
  gone: boolean;
}

/** Reads an HTTP status as a delivery outcome: 2xx succeeds; redirects are failures (never followed). */
export function judgeStatus(status: number): { ok: boolean; error: string | null; gone: boolean } {
  if (status >= 200 && status < 300) return { ok: true, error: null, gone: false };
  if (status >= 300 && status < 400) return { ok: false, error: `redirect (HTTP ${status}) not followed`, gone: false };
  return { ok: false, error: `HTTP ${status}`, gone: status === 410 };
}
