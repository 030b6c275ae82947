import { env, exports } from 'cloudflare:workers';
import { expect } from 'vitest';

export const ADMIN_TOKEN = 'test-admin-token';
export const ADMIN_BASE = 'https://example.com';

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** Calls the Worker as an HTTP client would and parses the JSON answer. */
export async function api(
  method: string,
  url: string,
  options: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await exports.default.fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON: keep the text so assertions show it.
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface TestTenant {
  name: string;
  token: string;
  /** e.g. https://t-1234.example.com */
  base: string;
}

/** Creates a fresh tenant through the admin API. */
export async function newTenant(options: { accessControl?: 'custom' | 'none' } = {}): Promise<TestTenant> {
  const name = `t-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, ...options } });
  expect(res.status).toBe(201);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

export interface TestSocket {
  ws: WebSocket;
  messages: string[];
  nextMessage(timeoutMs?: number): Promise<string>;
  /** Resolves with the close the server sent; rejects after the timeout instead of hanging. */
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  /** Resolves true if a message arrives within the time, false otherwise. */
  receivesWithin(timeoutMs: number): Promise<boolean>;
}

export interface ConnectOptions {
  /** A client that never answers the server's close frame (the runtime otherwise answers it by itself). */
  neverAnswersClose?: boolean;
}

/**
 * A `waitFor(check, timeoutMs, what)` that re-runs `check` each time something wakes `waiters`, and rejects after the
 * timeout instead of hanging; `context` adds what was seen to the timeout's message.
 */
export function waiterOn(waiters: Array<() => void>, context: () => string = () => '') {
  return <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      // A waiter that timed out must not wake later and take a message meant for the next one.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context()}`));
      }, timeoutMs);
      const poll = (): void => {
        if (timedOut) return;
        const value = check();
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        } else waiters.push(poll);
      };
      poll();
    });
}

/** Opens a WebSocket to a connect uri (ws:// or wss://) through the Worker. */
export async function connect(uri: string, options: ConnectOptions = {}): Promise<TestSocket> {
  const res = await exports.default.fetch(uri.replace(/^ws/, 'http'), { headers: { upgrade: 'websocket' } });
  const ws = res.webSocket;
  if (ws === null) throw new Error(`upgrade refused with HTTP ${res.status}: ${await res.text()}`);
  ws.accept({ allowHalfOpen: options.neverAnswersClose === true });
  // Binary messages arrive as ArrayBuffers, as in browsers set so (the Workers default is Blob).
  ws.binaryType = 'arraybuffer';
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  let closeInfo: { code: number; reason: string } | null = null;
  ws.addEventListener('message', (event) => {
    messages.push(typeof event.data === 'string' ? event.data : new TextDecoder().decode(event.data as ArrayBuffer));
    waiters.splice(0).forEach((wake) => wake());
  });
  ws.addEventListener('close', (event) => {
    closeInfo = { code: event.code, reason: event.reason };
    waiters.splice(0).forEach((wake) => wake());
  });
  let read = 0;
  const waitFor = waiterOn(waiters);
  return {
    ws,
    messages,
    nextMessage: (timeoutMs = 2000) => waitFor(() => (read < messages.length ? messages[read++] : undefined), timeoutMs, 'a message'),
    closed: (timeoutMs = 2000) => waitFor(() => closeInfo ?? undefined, timeoutMs, 'the socket to close'),
    receivesWithin: (timeoutMs) =>
      waitFor(() => (read < messages.length ? messages[read++] : undefined), timeoutMs, 'a message').then(
        () => true,
        () => false,
      ),
  };
}

/** Reserves a socket with tags (and optionally an id) and connects it. */
export async function connectSocket(
  tenant: TestTenant,
  request: { id?: string; tags?: string[] } = {},
  options: ConnectOptions = {},
): Promise<TestSocket & { id: string }> {
  const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: request });
  expect(res.status).toBe(201);
  const socket = await connect(res.body.uri, options);
  return Object.assign(socket, { id: res.body.id as string });
}

/** Pushes a message with the tenant's security token. */
export function push(tenant: TestTenant, data: string, receivers: { sockets?: string[] | null; tags?: string[] | null }): Promise<ApiResponse> {
  return api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body: { data, receivers } });
}

/** The tenant's Durable Object stub, for eviction and alarm tests. */
export function hubStub(name: string): DurableObjectStub {
  return env.TENANT_HUB.get(env.TENANT_HUB.idFromName(name));
}
