import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WsWebSocket from 'ws';
import { MwsClient, NO_WEBSOCKET_MESSAGE, type MwsClientEvents, type MwsClientOptions } from '../src/client.js';
import { nextEvent, sleep, startFakeMws, type FakeMws } from './support/ws-server.js';

let server: FakeMws;
const clients: MwsClient[] = [];

beforeEach(async () => {
  server = await startFakeMws();
});

afterEach(async () => {
  clients.splice(0).forEach((client) => client.close());
  await server.stop();
});

/** A client whose events are all recorded; fast timings so tests take milliseconds. */
function makeClient(options: Partial<MwsClientOptions> = {}) {
  let uriCalls = 0;
  const getUri = async (): Promise<string> => `${server.url}/?token=t${++uriCalls}`;
  const client = new MwsClient({
    ...(options.uri === undefined ? { getUri } : {}),
    pingIntervalMs: 60_000,
    reconnect: { baseDelayMs: 10, maxDelayMs: 40 },
    // The raw protocol's behaviour; the mws.v2 default has its own tests (stream.test.ts).
    protocol: 'raw',
    ...options,
  });
  clients.push(client);
  const events: Array<{ type: keyof MwsClientEvents; event: unknown }> = [];
  for (const type of ['open', 'message', 'close', 'reconnecting', 'error'] as const) {
    client.on(type, (event) => events.push({ type, event }));
  }
  const next = <K extends keyof MwsClientEvents>(type: K, match?: (event: MwsClientEvents[K]) => boolean, timeoutMs?: number) =>
    nextEvent<MwsClientEvents[K]>((listener) => client.on(type, listener), match, timeoutMs);
  return { client, events, next, uriCalls: () => uriCalls };
}

describe('MwsClient', () => {
  it('opens a connection and emits pushed messages as text', async () => {
    const { client, next } = makeClient();
    const opened = next('open');
    client.connect();
    await opened;
    const conn = await server.nthConnection(1);
    const message = next('message');
    conn.ws.send('hello');
    expect(await message).toEqual({ data: 'hello' });
    const binary = next('message');
    conn.ws.send(Buffer.from('héllo bytes'));
    expect(await binary).toEqual({ data: 'héllo bytes', bytes: new Uint8Array(Buffer.from('héllo bytes')) });
  });

  it('reconnects with exponentially growing delays capped at maxDelayMs, and resets after a successful open', async () => {
    server.refuseNext = 4;
    const { client, events, next } = makeClient({ random: () => 0.999, reconnect: { baseDelayMs: 20, maxDelayMs: 100 } });
    const opened = next('open');
    client.connect();
    expect(await opened).toEqual({ attempt: 4, resumed: null });
    const delays = events.filter((e) => e.type === 'reconnecting').map((e) => e.event);
    expect(delays).toEqual([
      { attempt: 1, delayMs: 19 },
      { attempt: 2, delayMs: 39 },
      { attempt: 3, delayMs: 79 },
      { attempt: 4, delayMs: 99 },
    ]);
    const conn = await server.nthConnection(1);
    const reconnecting = next('reconnecting');
    conn.ws.terminate();
    expect(await reconnecting).toEqual({ attempt: 1, delayMs: 19 });
    await server.nthConnection(2);
  });

  it('waits a random fraction of the backoff cap (full jitter) before reconnecting', async () => {
    const { client, next } = makeClient({ random: () => 0.25, reconnect: { baseDelayMs: 400, maxDelayMs: 1000 } });
    client.connect();
    const conn = await server.nthConnection(1);
    const reconnecting = next('reconnecting');
    const dropped = Date.now();
    conn.ws.terminate();
    expect(await reconnecting).toEqual({ attempt: 1, delayMs: 100 });
    await server.nthConnection(2);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(95);
  });

  it('calls getUri before every connection attempt and connects with each fresh uri', async () => {
    const { client, uriCalls } = makeClient();
    client.connect();
    for (let n = 1; n <= 3; n++) (await server.nthConnection(n)).ws.terminate();
    await server.nthConnection(4);
    expect(uriCalls()).toBe(4);
    expect(server.connections.map((c) => c.path)).toEqual(['/?token=t1', '/?token=t2', '/?token=t3', '/?token=t4']);
  });

  it.each([
    [4000, 'tenant deleted'],
    [4001, 'removed by the backend'],
    [4003, 'replaced by a newer connection'],
    [4404, 'tenant not found'],
  ])('does not reconnect after the server closes with %i (%s)', async (code, reason) => {
    const { client, events, next, uriCalls } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    const closed = next('close');
    conn.ws.close(code, reason);
    expect(await closed).toEqual({ code, reason, willReconnect: false });
    await sleep(200); // many times the 10-40 ms backoff
    expect(server.upgradeAttempts).toBe(1);
    expect(uriCalls()).toBe(1);
    expect(events.some((e) => e.type === 'reconnecting')).toBe(false);
    expect(client.state).toBe('closed');
  });

  it('fetches a new uri and reconnects after 4401 when it has getUri', async () => {
    const { client, next, uriCalls } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    const closed = next('close');
    conn.ws.close(4401, 'connect token is unknown, already used or expired');
    expect((await closed).willReconnect).toBe(true);
    await server.nthConnection(2);
    expect(uriCalls()).toBe(2);
  });

  it('stops after 4401 with a static uri', async () => {
    const { client, next } = makeClient({ uri: `${server.url}/?token=static` });
    client.connect();
    const conn = await server.nthConnection(1);
    const closed = next('close');
    conn.ws.close(4401, 'used');
    expect(await closed).toEqual({ code: 4401, reason: 'used', willReconnect: false });
    await sleep(200);
    expect(server.upgradeAttempts).toBe(1);
  });

  it('does not reconnect with a static uri once a connection opened with it, because the uri is single-use', async () => {
    const { client, next } = makeClient({ uri: `${server.url}/?token=static` });
    client.connect();
    const conn = await server.nthConnection(1);
    const closed = next('close');
    conn.ws.terminate();
    expect(await closed).toMatchObject({ code: 1006, willReconnect: false });
    await sleep(200);
    expect(server.upgradeAttempts).toBe(1);
    expect(client.state).toBe('closed');
  });

  it('retries a static uri whose upgrade was refused before it ever opened', async () => {
    server.refuseNext = 1;
    const { client, next } = makeClient({ uri: `${server.url}/?token=static` });
    const opened = next('open');
    client.connect();
    expect(await opened).toEqual({ attempt: 1, resumed: null });
    expect(server.upgradeAttempts).toBe(2);
  });

  it('sends ping every interval and keeps the connection while pong comes back', async () => {
    const { client, events } = makeClient({ pingIntervalMs: 20, pongTimeoutMs: 40 });
    client.connect();
    const conn = await server.nthConnection(1);
    await sleep(300);
    expect(conn.received.filter((m) => m === 'ping').length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.type === 'close')).toEqual([]);
    expect(events.filter((e) => e.type === 'message')).toEqual([]); // pongs are not messages
    expect(server.connections).toHaveLength(1);
  });

  it('closes with 3000 and reconnects when no pong comes back within pongTimeoutMs', async () => {
    server.answerPings = false;
    const { client, next } = makeClient({ pingIntervalMs: 30, pongTimeoutMs: 50 });
    const closed = next('close');
    client.connect();
    const first = await server.nthConnection(1);
    expect(await closed).toEqual({ code: 3000, reason: 'pong timeout', willReconnect: true });
    expect(first.received).toContain('ping');
    expect((await first.closed).code).toBe(3000);
    await server.nthConnection(2);
  });

  it('pings after every 256 KiB it receives in raw mode, and keeps the pongs out of its messages', async () => {
    const { client, events } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    const chunk = 'm'.repeat(128 * 1024);
    for (let i = 0; i < 8; i++) conn.ws.send(chunk);
    await vi.waitFor(() => expect(conn.received.filter((m) => m === 'ping')).toHaveLength(4));
    await sleep(50);
    const messages = events.filter((e) => e.type === 'message').map((e) => (e.event as { data: string }).data);
    expect(messages).toHaveLength(8);
    expect(messages.every((m) => m === chunk)).toBe(true);
    expect(events.filter((e) => e.type === 'close')).toEqual([]);
  });

  it('emits a pushed "pong" as a message when no ping is waiting for it', async () => {
    const { client, next } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    const message = next('message');
    conn.ws.send('pong');
    expect(await message).toEqual({ data: 'pong' });
  });

  it('emits error and retries with backoff when getUri fails', async () => {
    let calls = 0;
    const { client, next } = makeClient({
      getUri: async () => {
        calls++;
        if (calls < 3) throw new Error('backend down');
        return `${server.url}/?token=ok`;
      },
    });
    const error = next('error');
    const opened = next('open');
    client.connect();
    expect(((await error).error as Error).message).toBe('backend down');
    expect(await opened).toEqual({ attempt: 2, resumed: null });
    expect(calls).toBe(3);
  });

  it('close() closes the socket with 1000 and stops pinging and reconnecting', async () => {
    const { client, events, next } = makeClient({ pingIntervalMs: 20, pongTimeoutMs: 1000 });
    const opened = next('open');
    client.connect();
    await opened;
    const conn = await server.nthConnection(1);
    client.close();
    expect(await conn.closed).toEqual({ code: 1000, reason: 'closed by client' });
    const pings = conn.received.length;
    await sleep(200);
    expect(conn.received.length).toBe(pings);
    expect(server.upgradeAttempts).toBe(1);
    expect(client.state).toBe('closed');
    expect(events.filter((e) => e.type === 'close').map((e) => e.event)).toEqual([
      { code: 1000, reason: 'closed by client', willReconnect: false },
    ]);
  });

  it('close() during a backoff wait cancels the scheduled reconnect', async () => {
    const { client, next } = makeClient({ reconnect: { baseDelayMs: 100, maxDelayMs: 100 }, random: () => 0.99 });
    client.connect();
    const conn = await server.nthConnection(1);
    const reconnecting = next('reconnecting');
    conn.ws.terminate();
    await reconnecting;
    client.close();
    await sleep(250);
    expect(server.upgradeAttempts).toBe(1);
  });

  it('abandons an attempt that does not open within connectTimeoutMs and tries again', async () => {
    // Accepts TCP connections and never answers the upgrade, like a server that hangs.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const { client, next } = makeClient({ getUri: () => `ws://127.0.0.1:${port}/`, connectTimeoutMs: 100 });
      const closed = next('close');
      client.connect();
      expect(await closed).toEqual({ code: 1006, reason: 'connect timeout', willReconnect: true });
      await next('reconnecting');
      await expect.poll(() => sockets.length).toBeGreaterThanOrEqual(2);
      client.close();
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('connects, pings and receives with the `ws` package passed as the WebSocket option (Node 20 has no global one)', async () => {
    const { client, events, next } = makeClient({ WebSocket: WsWebSocket, pingIntervalMs: 20, pongTimeoutMs: 200 });
    const opened = next('open');
    client.connect();
    await opened;
    const conn = await server.nthConnection(1);
    const message = next('message');
    conn.ws.send('hello from ws');
    expect(await message).toEqual({ data: 'hello from ws' });
    await sleep(100);
    expect(conn.received).toContain('ping');
    expect(events.filter((e) => e.type === 'close')).toEqual([]);
  });

  it('says in one line to pass a WebSocket when the runtime has none', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      expect(() => new MwsClient({ uri: 'ws://x' })).toThrow(new TypeError(NO_WEBSOCKET_MESSAGE));
      expect(NO_WEBSOCKET_MESSAGE).not.toContain('\n');
      expect(NO_WEBSOCKET_MESSAGE).toContain("import WebSocket from 'ws'");
      expect(() => new MwsClient({ uri: 'ws://x', WebSocket: WsWebSocket })).not.toThrow();
    } finally {
      global.WebSocket = saved;
    }
  });

  it('refuses options with both or neither of uri and getUri', () => {
    expect(() => new MwsClient({})).toThrow(TypeError);
    expect(() => new MwsClient({ uri: 'ws://x', getUri: () => 'ws://x' })).toThrow(TypeError);
  });
});
