import { describe, expect, it } from 'vitest';
import { CloseCode } from '../sdk/src/close-codes';
import { api, connectSocket, newTenant, push, type TestSocket, type TestTenant } from './helpers';

// Inside workerd a test client always reads, so these tests stand for what the object can see: how much it sent
// to a socket, how fast, and when the client last pinged. test/e2e/hostile-clients.test.ts has real stuck clients.
const MESSAGE = 'x'.repeat(900 * 1024);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pushUntilClosed(tenant: TestTenant, socket: TestSocket, maxPushes: number): Promise<number[]> {
  const sent: number[] = [];
  for (let i = 0; i < maxPushes && socket.ws.readyState === WebSocket.OPEN; i++) {
    sent.push((await push(tenant, MESSAGE, { sockets: ['*'] })).body.sent);
  }
  return sent;
}

describe('slow clients: the backlog budget', () => {
  it('closes a socket sent more than its budget faster than a client reads with 4008, and sends it nothing more', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { id: 'slow' });
    const sent = await pushUntilClosed(tenant, socket, 40);
    expect(await socket.closed()).toMatchObject({ code: CloseCode.SLOW_CLIENT, reason: expect.stringContaining('backlog') });
    expect(sent.at(-1)).toBe(0);
    expect(sent.filter((n) => n === 1).length).toBeGreaterThanOrEqual(4);
    expect((await push(tenant, 'after', { sockets: ['*'] })).body.sent).toBe(0);
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).body.results).toEqual([]);
  });

  it('keeps every message, in order, for a socket that pings as it reads, however much it is sent', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    for (let i = 0; i < 24; i++) {
      expect((await push(tenant, `${i}|${MESSAGE}`, { sockets: ['*'] })).body.sent).toBe(1);
      expect((await socket.nextMessage()).startsWith(`${i}|`)).toBe(true);
      socket.ws.send('ping');
      expect(await socket.nextMessage()).toBe('pong');
    }
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('keeps a socket that never pings while it is sent less than a reading client is assumed to take', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    // 600 KiB every 700 ms is under 1 MiB/s; 8 of them are more than the 4 MiB a burst may hold.
    const message = 'x'.repeat(600 * 1024);
    for (let i = 0; i < 8; i++) {
      expect((await push(tenant, `${i}|${message}`, { sockets: ['*'] })).body.sent).toBe(1);
      await sleep(700);
    }
    for (let i = 0; i < 8; i++) expect((await socket.nextMessage()).startsWith(`${i}|`)).toBe(true);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes the sockets with the largest backlog once the object passes its budget, never those under 2 MiB', async () => {
    const tenant = await newTenant();
    const medium = await Promise.all(Array.from({ length: 10 }, (_, i) => connectSocket(tenant, { id: `medium-${i}`, tags: ['medium'] })));
    const heavy = await Promise.all(Array.from({ length: 30 }, (_, i) => connectSocket(tenant, { id: `heavy-${i}`, tags: ['heavy'] })));
    const light = await connectSocket(tenant, { id: 'light' });
    await push(tenant, `0|${MESSAGE}`, { tags: ['medium'] });
    for (let i = 0; i < 4; i++) await push(tenant, `${i}|${MESSAGE}`, { tags: ['heavy'] });
    expect((await push(tenant, 'still here', { sockets: ['light'] })).body.sent).toBe(1);
    expect(await light.nextMessage()).toBe('still here');

    // A close frame arrives after the messages queued before it.
    const settled = (s: TestSocket) => s.messages.length === 4 || s.ws.readyState !== WebSocket.OPEN;
    await expect.poll(() => heavy.every(settled), { timeout: 10_000 }).toBe(true);
    const closed = heavy.filter((s) => s.ws.readyState !== WebSocket.OPEN);
    expect(closed.length).toBeGreaterThan(0);
    for (const s of closed) expect((await s.closed()).code).toBe(CloseCode.SLOW_CLIENT);
    for (const s of heavy.filter((h) => h.ws.readyState === WebSocket.OPEN)) {
      expect(s.messages.map((m) => m.slice(0, 2))).toEqual(['0|', '1|', '2|', '3|']);
    }
    for (const s of medium) {
      expect((await s.nextMessage()).startsWith('0|')).toBe(true);
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
    }
  });
});
