import type {
  BinaryPushResult,
  ConfigurationUpdate,
  ConfigurationView,
  DeliveryList,
  PresenceCounts,
  SecretRotated,
  SecretRotationRequest,
  TagPresence,
  WebhookCreated,
  WebhookCreateRequest,
  WebhookList,
  WebhookUpdateRequest,
  WebhookView,
  PushRequest,
  PushResult,
  Receivers,
  SigningKeyCreated,
  SigningKeyList,
  SocketInfo,
  SocketListQuery,
  SocketPage,
  SocketRequest,
  SocketUri,
  WebsocketUri,
} from './protocol.js';
import { ApiTransport } from './server-http.js';
import type { MwsBackendOptions, PushOptions } from './server-options.js';

/** The REST shapes, for code that imports only `@mws/sdk/server`. */
export type * from './protocol.js';
export { MwsError, parseRetryAfter } from './server-http.js';
export { DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_DELAY_MS, DEFAULT_TIMEOUT_MS } from './server-options.js';
export type { FetchLike, MwsBackendOptions, PushOptions, RetryOptions } from './server-options.js';

/** Server-side helper for a tenant's REST API: push messages, manage sockets, configuration, signing keys and webhooks, ask who is there. */
export class MwsBackend {
  private readonly api: ApiTransport;

  constructor(options: MwsBackendOptions) {
    this.api = new ApiTransport(options);
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
    return this.api.request('POST', '/v1/messages', body, key === false ? undefined : key);
  }

  /** POST /v1/sockets: reserves a socket id with tags and returns its single-use connect uri. */
  createSocket(request: Partial<SocketRequest> = {}): Promise<SocketUri> {
    const body: SocketRequest = { id: request.id ?? null, tags: request.tags ?? [] };
    return this.api.request('POST', '/v1/sockets', body);
  }

  /** GET /v1/websocket_uri: a single-use connect uri for an untagged socket with a fresh id. */
  websocketUri(): Promise<WebsocketUri> {
    return this.api.request('GET', '/v1/websocket_uri');
  }

  /**
   * GET /v1/sockets: one page of the connected sockets (at most `limit`, 1 to 1000, default 1000) and the `cursor`
   * of the next page, null on the last. Use `sockets()` to walk every page.
   */
  listSockets(query: SocketListQuery = {}): Promise<SocketPage> {
    return this.api.request('GET', `/v1/sockets${listSearch(query)}`);
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
    return this.api.request('GET', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  /** DELETE /v1/sockets/{id}: closes the socket with 4001 (its client does not reconnect). */
  async deleteSocket(id: string): Promise<void> {
    await this.api.request('DELETE', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  /** GET /v1/configuration: access control, `jwt` settings (a secret shows as "configured"), limits and shards. */
  getConfiguration(): Promise<ConfigurationView> {
    return this.api.request('GET', '/v1/configuration');
  }

  /** PUT /v1/configuration: replaces only the fields given; answers the whole configuration. */
  setConfiguration(update: ConfigurationUpdate): Promise<ConfigurationView> {
    return this.api.request('PUT', '/v1/configuration', update);
  }

  /** POST /v1/signing-keys: a key for minting connect tokens; its `secret` is shown only in this answer. */
  createSigningKey(): Promise<SigningKeyCreated> {
    return this.api.request('POST', '/v1/signing-keys');
  }

  /** GET /v1/signing-keys: `{ results: [{ kid, createdAt }] }`, without secrets. */
  listSigningKeys(): Promise<SigningKeyList> {
    return this.api.request('GET', '/v1/signing-keys');
  }

  /** DELETE /v1/signing-keys/{kid}. Throws MwsError 404 `signing_key_not_found` for an unknown kid. */
  async deleteSigningKey(kid: string): Promise<void> {
    await this.api.request('DELETE', `/v1/signing-keys/${encodeURIComponent(kid)}`);
  }

  /** POST /v1/webhooks: the receiver's `secret` (`whsec_...`) is shown only in this answer. */
  createWebhook(request: WebhookCreateRequest): Promise<WebhookCreated> {
    return this.api.request('POST', '/v1/webhooks', request);
  }

  /** GET /v1/webhooks: the tenant's webhooks (at most 5), without secrets. */
  listWebhooks(): Promise<WebhookList> {
    return this.api.request('GET', '/v1/webhooks');
  }

  getWebhook(id: string): Promise<WebhookView> {
    return this.api.request('GET', `/v1/webhooks/${encodeURIComponent(id)}`);
  }

  /** PUT /v1/webhooks/{id}: changes only the fields given; `enabled: true` re-enables a disabled webhook. */
  updateWebhook(id: string, update: WebhookUpdateRequest): Promise<WebhookView> {
    return this.api.request('PUT', `/v1/webhooks/${encodeURIComponent(id)}`, update);
  }

  async deleteWebhook(id: string): Promise<void> {
    await this.api.request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`);
  }

  /** POST /v1/webhooks/{id}/secret: a new secret; the previous one keeps signing for `previousSecretTtlSeconds` (default a day). */
  rotateWebhookSecret(id: string, request: SecretRotationRequest = {}): Promise<SecretRotated> {
    return this.api.request('POST', `/v1/webhooks/${encodeURIComponent(id)}/secret`, request);
  }

  /** GET /v1/webhooks/{id}/deliveries: the latest attempts (at most `limit`, default and max 50), newest first. */
  webhookDeliveries(id: string, query: { limit?: number } = {}): Promise<DeliveryList> {
    const search = query.limit === undefined ? '' : `?limit=${query.limit}`;
    return this.api.request('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries${search}`);
  }

  /** GET /v1/tags/{tag}: how many sockets have the tag (all shards) and one page of them; pass `cursor` for the next. */
  tagPresence(tag: string, query: SocketListQuery = {}): Promise<TagPresence> {
    return this.api.request('GET', `/v1/tags/${encodeURIComponent(tag)}${listSearch(query)}`);
  }

  /** GET /v1/presence: connected sockets per tag, up to 100 tags in one call. A tag with a comma cannot be asked here. */
  presence(tags: readonly string[]): Promise<PresenceCounts> {
    if (tags.some((tag) => tag.includes(','))) throw new TypeError('MwsBackend.presence: a tag with a comma cannot be queried here; use tagPresence(tag).');
    return this.api.request('GET', `/v1/presence?tags=${tags.map(encodeURIComponent).join(',')}`);
  }
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
