export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

/** Options of one `push`. */
export interface PushOptions {
  /**
   * The `Idempotency-Key`: by default a fresh one per call, reused on that call's own retries, so a retry after a
   * timeout or a 5xx never delivers twice. Give your own to make retries across calls (or processes) safe; `false`
   * sends none (and a POST is then never retried after it may have been done).
   */
  idempotencyKey?: string | false;
}

/** When MwsBackend retries by itself; see `MwsBackendOptions.retry`. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  maxRetries?: number;
  /** The longest `Retry-After` the helper waits out by itself, in ms; a longer one is thrown at once. Default 5 000. */
  maxDelayMs?: number;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_MAX_RETRY_DELAY_MS = 5_000;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface MwsBackendOptions {
  /** The tenant's base URL: "https://foo.example.com", or locally "http://127.0.0.1:8787/v1/gateways/foo". */
  baseUrl: string;
  /**
   * The tenant's security token. Keep it on the server: never ship it to browsers. Only a tenant in `none` mode can
   * be used without one, and then only for `push` and `websocketUri`.
   */
  securityToken?: string;
  /** A fetch implementation; defaults to the global fetch (Node 18+, browsers, Workers). */
  fetch?: FetchLike;
  /**
   * Waits out `Retry-After` and retries 429 `rate_limited` answers (nothing was done, so any call is safe to repeat)
   * and, for GET, PUT and DELETE, 503 `service_unavailable`. A push with an Idempotency-Key (the default) is also
   * retried after a timeout, a network error, any 5xx (`partial_delivery` included: the retry completes the shards
   * that missed it) and 409 `idempotency_key_in_flight`. Never retried: a POST without a key that may have been
   * done, and any wait longer than `maxDelayMs`. `false` turns retrying off.
   */
  retry?: RetryOptions | false;
  /** How long one request may take before it is abandoned (and, for a keyed push, retried), in ms. Default 10 000. */
  timeoutMs?: number;
}
