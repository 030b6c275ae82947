import {
  IDEMPOTENCY_KEY_HEADER,
  type BinaryPushResult,
  type ConfigurationUpdate,
  type ConfigurationView,
  type DeliveryList,
  type PresenceCounts,
  type SecretRotated,
  type SecretRotationRequest,
  type TagPresence,
  type WebhookCreated,
  type WebhookCreateRequest,
  type WebhookList,
  type WebhookUpdateRequest,
  type WebhookView,
  type FieldError,
  type PushRequest,
  type PushResult,
  type Receivers,
  type SigningKeyCreated,
  type SigningKeyList,
  type SocketInfo,
  type SocketListQuery,
  type SocketPage,
  type SocketRequest,
  type SocketUri,
  type WebsocketUri,
} from './protocol.js';

/** The REST shapes, for code that imports only `@mws/sdk/server`. */
export type * from './protocol.js';

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
/** The first wait before retrying a keyed push after a timeout, a network error or a 5xx without Retry-After; doubles each time. */
const KEYED_RETRY_BASE_DELAY_MS = 250;
/** The wait when a 429 or 503 comes without `Retry-After`. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

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

/** Server-side helper for a tenant's REST API: push messages, manage sockets, configuration, signing keys and webhooks, ask who is there. */
export class MwsBackend {
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

  /**
   * POST /v1/messages: text, or bytes (sent as `dataBase64`; raw sockets get one binary frame). A missing `sockets` or
   * `tags` is sent as null. Safe to retry: see PushOptions.idempotencyKey.
   */
  push(data: string, receivers: Partial<Receivers>, options?: PushOptions): Promise<PushResult>;
  push(data: Uint8Array, receivers: Partial<Receivers>, options?: PushOptions): Promise<BinaryPushResult>;
  push(data: string | Uint8Array, receivers: Partial<Receivers>, options: PushOptions = {}): Promise<PushResult | BinaryPushResult> {
    const to = { sockets: receivers.sockets ?? null, tags: receivers.tags ?? null };
    const body: PushRequest = typeof data === 'string' ? { data, receivers: to } : { dataBase64: toBase64(data), receivers: to };
    const key = options.idempotencyKey ?? randomKey();
    return this.request('POST', '/v1/messages', body, key === false ? undefined : key);
  }

  /** POST /v1/sockets: reserves a socket id with tags and returns its single-use connect uri. */
  createSocket(request: Partial<SocketRequest> = {}): Promise<SocketUri> {
    const body: SocketRequest = { id: request.id ?? null, tags: request.tags ?? [] };
    return this.request('POST', '/v1/sockets', body);
  }

  /** GET /v1/websocket_uri: a single-use connect uri for an untagged socket with a fresh id. */
  websocketUri(): Promise<WebsocketUri> {
    return this.request('GET', '/v1/websocket_uri');
  }

  /**
   * GET /v1/sockets: one page of the connected sockets (at most `limit`, 1 to 1000, default 1000) and the `cursor`
   * of the next page, null on the last. Use `sockets()` to walk every page.
   */
  listSockets(query: SocketListQuery = {}): Promise<SocketPage> {
    return this.request('GET', `/v1/sockets${listSearch(query)}`);
  }

  /**
   * Every connected socket, page after page (`pageSize` per request, default 1000), following the cursor to the end.
   * Sockets that connect or leave during the walk may or may not appear; none appears twice.
   *
   * ```ts
   * for await (const socket of mws.sockets()) console.log(socket.id, socket.tags);
   * ```
   */
  async *sockets(options: { pageSize?: number } = {}): AsyncGenerator<SocketInfo, void, undefined> {
    let cursor: string | null = null;
    do {
      const page: SocketPage = await this.listSockets({ limit: options.pageSize, cursor });
      yield* page.results;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** GET /v1/sockets/{id}. Throws MwsError 404 `socket_not_found` when it is not connected. */
  getSocket(id: string): Promise<SocketInfo> {
    return this.request('GET', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  /** DELETE /v1/sockets/{id}: closes the socket with 4001 (its client does not reconnect). */
  async deleteSocket(id: string): Promise<void> {
    await this.request('DELETE', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  /** GET /v1/configuration: access control, `jwt` settings (a secret shows as "configured"), limits and shards. */
  getConfiguration(): Promise<ConfigurationView> {
    return this.request('GET', '/v1/configuration');
  }

  /** PUT /v1/configuration: replaces only the fields given; answers the whole configuration. */
  setConfiguration(update: ConfigurationUpdate): Promise<ConfigurationView> {
    return this.request('PUT', '/v1/configuration', update);
  }

  /** POST /v1/signing-keys: a key for minting connect tokens; its `secret` is shown only in this answer. */
  createSigningKey(): Promise<SigningKeyCreated> {
    return this.request('POST', '/v1/signing-keys');
  }

  /** GET /v1/signing-keys: `{ results: [{ kid, createdAt }] }`, without secrets. */
  listSigningKeys(): Promise<SigningKeyList> {
    return this.request('GET', '/v1/signing-keys');
  }

  /** DELETE /v1/signing-keys/{kid}. Throws MwsError 404 `signing_key_not_found` for an unknown kid. */
  async deleteSigningKey(kid: string): Promise<void> {
    await this.request('DELETE', `/v1/signing-keys/${encodeURIComponent(kid)}`);
  }

  /** POST /v1/webhooks: the receiver's `secret` (`whsec_...`) is shown only in this answer. */
  createWebhook(request: WebhookCreateRequest): Promise<WebhookCreated> {
    return this.request('POST', '/v1/webhooks', request);
  }

  /** GET /v1/webhooks: the tenant's webhooks (at most 5), without secrets. */
  listWebhooks(): Promise<WebhookList> {
    return this.request('GET', '/v1/webhooks');
  }

  getWebhook(id: string): Promise<WebhookView> {
    return this.request('GET', `/v1/webhooks/${encodeURIComponent(id)}`);
  }

  /** PUT /v1/webhooks/{id}: changes only the fields given; `enabled: true` re-enables a disabled webhook. */
  updateWebhook(id: string, update: WebhookUpdateRequest): Promise<WebhookView> {
    return this.request('PUT', `/v1/webhooks/${encodeURIComponent(id)}`, update);
  }

  async deleteWebhook(id: string): Promise<void> {
    await this.request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`);
  }

  /** POST /v1/webhooks/{id}/secret: a new secret; the previous one keeps signing for `previousSecretTtlSeconds` (default a day). */
  rotateWebhookSecret(id: string, request: SecretRotationRequest = {}): Promise<SecretRotated> {
    return this.request('POST', `/v1/webhooks/${encodeURIComponent(id)}/secret`, request);
  }

  /** GET /v1/webhooks/{id}/deliveries: the latest attempts (at most `limit`, default and max 50), newest first. */
  webhookDeliveries(id: string, query: { limit?: number } = {}): Promise<DeliveryList> {
    const search = query.limit === undefined ? '' : `?limit=${query.limit}`;
    return this.request('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries${search}`);
  }

  /** GET /v1/tags/{tag}: how many sockets have the tag (all shards) and one page of them; pass `cursor` for the next. */
  tagPresence(tag: string, query: SocketListQuery = {}): Promise<TagPresence> {
    return this.request('GET', `/v1/tags/${encodeURIComponent(tag)}${listSearch(query)}`);
  }

  /** GET /v1/presence: connected sockets per tag, up to 100 tags in one call. A tag with a comma cannot be asked here. */
  presence(tags: readonly string[]): Promise<PresenceCounts> {
    if (tags.some((tag) => tag.includes(','))) throw new TypeError('MwsBackend.presence: a tag with a comma cannot be queried here; use tagPresence(tag).');
    return this.request('GET', `/v1/presence?tags=${tags.map(encodeURIComponent).join(',')}`);
  }

  private async request<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
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

/** A fresh Idempotency-Key. */
function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

/** Standard base64, as `dataBase64` takes it. */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** `?limit=&cursor=` of a paged list, or nothing. */
function listSearch(query: SocketListQuery): string {
  const params = new URLSearchParams();
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (query.cursor !== undefined && query.cursor !== null && query.cursor !== '') params.set('cursor', query.cursor);
  const search = params.toString();
  return search === '' ? '' : `?${search}`;
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
