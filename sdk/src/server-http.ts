import { IDEMPOTENCY_KEY_HEADER, type FieldError } from './protocol.js';
import { DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_DELAY_MS, DEFAULT_TIMEOUT_MS, type FetchLike, type MwsBackendOptions, type RetryOptions } from './server-options.js';

/** The first wait before retrying a keyed push after a timeout, a network error or a 5xx without Retry-After; doubles each time. */
const KEYED_RETRY_BASE_DELAY_MS = 250;
/** The wait when a 429 or 503 comes without `Retry-After`. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** An error answer of the MWS API: `{"error": {reason, message}}`, or 422 `{"errors": [...]}`. */
export class MwsError extends Error {
  override readonly name = 'MwsError';
  readonly status: number;
  readonly reason: string;
  /** Field-level problems of a 422 answer; empty otherwise. */
  readonly errors: FieldError[];
  /** Seconds the service asked to wait before retrying (`Retry-After` of a 429 or 503), or null. */
  readonly retryAfterSeconds: number | null;

  constructor(status: number, reason: string, message: string, errors: FieldError[] = [], retryAfterSeconds: number | null = null) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.errors = errors;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** How MwsBackend calls the API: one request at a time, retried as `MwsBackendOptions.retry` says, errors as MwsError. */
export class ApiTransport {
  private readonly baseUrl: string;
  private readonly securityToken: string | undefined;
  private readonly fetchImpl: FetchLike;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;

  constructor(options: MwsBackendOptions) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//i.test(options.baseUrl)) {
      throw new TypeError(`MwsBackend: baseUrl must be an http(s) URL such as "http://127.0.0.1:8787/v1/gateways/<tenant>", not ${String(options.baseUrl)}.`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.securityToken = options.securityToken;
    const impl = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (impl === undefined) throw new TypeError('MwsBackend: no global fetch here; pass the `fetch` option.');
    this.fetchImpl = impl;
    this.retry =
      options.retry === false
        ? { maxRetries: 0, maxDelayMs: 0 }
        : { maxRetries: options.retry?.maxRetries ?? DEFAULT_MAX_RETRIES, maxDelayMs: options.retry?.maxDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** `method path` with `body` as JSON: the parsed answer of a 2xx, else (after any retries) the MwsError or network error. */
  async request<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.securityToken !== undefined) headers.authorization = `Bearer ${this.securityToken}`;
    if (idempotencyKey !== undefined) headers[IDEMPOTENCY_KEY_HEADER] = idempotencyKey;
    const init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal } = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    for (let retries = 0; ; retries++) {
      let error: unknown;
      try {
        const res = await this.fetchImpl(`${this.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
        const text = await res.text();
        const parsed = parseJson(text);
        if (res.ok) return parsed as T;
        error = toMwsError(res.status, parsed, text, parseRetryAfter(res.headers.get('retry-after')));
      } catch (thrown) {
        // A timeout or a network error: the request may or may not have been done.
        error = thrown;
      }
      const delayMs = this.retryDelayMs(method, error, retries, idempotencyKey !== undefined);
      if (delayMs === null) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** How long to wait before retrying after `error`, or null to throw it. */
  private retryDelayMs(method: string, error: unknown, retriesSoFar: number, keyed: boolean): number | null {
    if (retriesSoFar >= this.retry.maxRetries) return null;
    const backoffMs = KEYED_RETRY_BASE_DELAY_MS * 2 ** retriesSoFar;
    if (!(error instanceof MwsError)) return keyed && backoffMs <= this.retry.maxDelayMs ? backoffMs : null;
    const retryable =
      (error.status === 429 && error.reason === 'rate_limited') ||
      (error.status === 503 && error.reason === 'service_unavailable' && method !== 'POST') ||
      (keyed && (error.status >= 500 || (error.status === 409 && error.reason === 'idempotency_key_in_flight')));
    if (!retryable) return null;
    const delayMs = error.retryAfterSeconds !== null ? error.retryAfterSeconds * 1000 : keyed ? backoffMs : DEFAULT_RETRY_AFTER_SECONDS * 1000;
    return delayMs <= this.retry.maxDelayMs ? delayMs : null;
  }
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3); null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toMwsError(status: number, body: unknown, text: string, retryAfterSeconds: number | null): MwsError {
  const obj = (typeof body === 'object' && body !== null ? body : {}) as {
    error?: { reason?: unknown; message?: unknown };
    errors?: unknown;
  };
  if (Array.isArray(obj.errors)) {
    const errors = obj.errors as FieldError[];
    return new MwsError(status, 'unprocessable_entity', errors.map((e) => e.message).join('; '), errors, retryAfterSeconds);
  }
  const reason = typeof obj.error?.reason === 'string' ? obj.error.reason : 'http_error';
  const message = typeof obj.error?.message === 'string' ? obj.error.message : `HTTP ${status}: ${text.slice(0, 200)}`;
  return new MwsError(status, reason, message, [], retryAfterSeconds);
}
