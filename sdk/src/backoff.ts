export interface BackoffOptions {
  /** Delay cap of the first retry, in ms. Default 500. */
  baseDelayMs?: number;
  /** Largest delay cap, in ms. Default 30 000. */
  maxDelayMs?: number;
}

export const DEFAULT_BASE_DELAY_MS = 500;
export const DEFAULT_MAX_DELAY_MS = 30_000;

/**
 * Exponential backoff with full jitter: a uniform random delay in [0, min(max, base * 2^(attempt-1))).
 * `attempt` starts at 1; `random` returns a number in [0, 1) (Math.random by default).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const max = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const cap = Math.min(max, base * 2 ** exponent);
  return Math.floor(random() * cap);
}
