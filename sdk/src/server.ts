import type {
  Configuration,
  FieldError,
  PushResult,
  Receivers,
  SocketInfo,
  SocketList,
  SocketRequest,
  SocketUri,
} from './types.js';

export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<Response>;

export interface MwsBackendOptions {
  /** The tenant's base URL, e.g. "https://foo.example.com" or "http://127.0.0.1:8787/v1/gateways/foo". */
  baseUrl: string;
  /** The tenant's security token. Keep it on the server: never ship it to browsers. */
  securityToken: string;
  /** A fetch implementation; defaults to the global fetch. */
  fetch?: FetchLike;
}

/** An error answer of the MWS API: `{"error": {reason, message}}`, or 422 `{"errors": [...]}`. */
export class MwsError extends Error {
  override readonly name = 'MwsError';
  readonly status: number;
  readonly reason: string;
  /** Field-level problems of a 422 answer; empty otherwise. */
  readonly errors: FieldError[];

  constructor(status: number, reason: string, message: string, errors: FieldError[] = []) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.errors = errors;
  }
}

/** Server-side helper for a tenant's REST API: push messages and manage sockets. */
export class MwsBackend {
  private readonly baseUrl: string;
  private readonly securityToken: string;
  private readonly fetchImpl: FetchLike;

  constructor(options: MwsBackendOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.securityToken = options.securityToken;
    const impl = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (impl === undefined) throw new TypeError('No global fetch: use Node >= 22 or pass the `fetch` option.');
    this.fetchImpl = impl;
  }

  /** POST /v1/messages. A missing `sockets` or `tags` is sent as null. */
  push(data: string, receivers: Receivers): Promise<PushResult> {
    return this.request('POST', '/v1/messages', { data, receivers: { sockets: receivers.sockets ?? null, tags: receivers.tags ?? null } });
  }

  /** POST /v1/sockets: reserves a socket id with tags and returns its single-use connect uri. */
  createSocket(request: SocketRequest = {}): Promise<SocketUri> {
    return this.request('POST', '/v1/sockets', request);
  }

  /** GET /v1/websocket_uri: a connect uri for a socket with a fresh id and no tags. */
  websocketUri(): Promise<SocketUri> {
    return this.request('GET', '/v1/websocket_uri');
  }

  /** GET /v1/sockets: the connected sockets. */
  listSockets(): Promise<SocketList> {
    return this.request('GET', '/v1/sockets');
  }

  /** GET /v1/sockets/{id}. Throws MwsError 404 `socket_not_found` when it is not connected. */
  getSocket(id: string): Promise<SocketInfo> {
    return this.request('GET', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  /** DELETE /v1/sockets/{id}: closes the socket with 4001 (its client does not reconnect). */
  async deleteSocket(id: string): Promise<void> {
    await this.request('DELETE', `/v1/sockets/${encodeURIComponent(id)}`);
  }

  getConfiguration(): Promise<Configuration> {
    return this.request('GET', '/v1/configuration');
  }

  setConfiguration(configuration: Configuration): Promise<Configuration> {
    return this.request('PUT', '/v1/configuration', configuration);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.securityToken}`, accept: 'application/json' };
    const init: { method: string; headers: Record<string, string>; body?: string } = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    const parsed = parseJson(text);
    if (!res.ok) throw toMwsError(res.status, parsed, text);
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toMwsError(status: number, body: unknown, text: string): MwsError {
  const obj = (typeof body === 'object' && body !== null ? body : {}) as {
    error?: { reason?: unknown; message?: unknown };
    errors?: unknown;
  };
  if (Array.isArray(obj.errors)) {
    const errors = obj.errors as FieldError[];
    return new MwsError(status, 'unprocessable_entity', errors.map((e) => e.message).join('; '), errors);
  }
  const reason = typeof obj.error?.reason === 'string' ? obj.error.reason : 'http_error';
  const message = typeof obj.error?.message === 'string' ? obj.error.message : `HTTP ${status}: ${text.slice(0, 200)}`;
  return new MwsError(status, reason, message);
}
