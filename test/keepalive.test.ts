import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, connectSocket, hubStub, newTenant, push } from './helpers';

// vitest.config.ts sets a short KEEPALIVE_INTERVAL_SECONDS, so "two intervals of silence" passes in well under a second.
const INTERVAL_MS = Number(env.KEEPALIVE_INTERVAL_SECONDS) * 1000;
const PAST_TWO_INTERVALS_MS = 2 * INTERVAL_MS + 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('keepalive', () => {
  it('answers the text "ping" with "pong"', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    socket.ws.send('ping');
    expect(await socket.nextMessage()).toBe('pong');
  });

  it('ignores other client messages (raw mode pushes only)', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    socket.ws.send('hello server');
    socket.ws.send('PING');
    expect(await socket.receivesWithin(200)).toBe(false);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a socket that pinged and then stayed silent for two intervals with 4002, and unlists it', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { id: 'gone-quiet' });
    socket.ws.send('ping');
    expect(await socket.nextMessage()).toBe('pong');
    await sleep(PAST_TWO_INTERVALS_MS);
    await runDurableObjectAlarm(hubStub(tenant.name));
    expect(await socket.closed()).toMatchObject({ code: 4002 });
    const list = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(list.body.results).toEqual([]);
  });

  it('keeps a socket that keeps pinging', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    // Ten pings a quarter interval apart outlast two intervals: each ping starts the wait anew. The short gaps leave
    // room for a busy machine's late timers.
    for (let i = 0; i < 10; i++) {
      socket.ws.send('ping');
      expect(await socket.nextMessage()).toBe('pong');
      await sleep(INTERVAL_MS / 4);
    }
    await runDurableObjectAlarm(hubStub(tenant.name));
    expect((await push(tenant, 'still here', { sockets: ['*'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('still here');
  });

  it('never drops a healthy socket that never pings', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    await sleep(PAST_TWO_INTERVALS_MS);
    await runDurableObjectAlarm(hubStub(tenant.name));
    expect((await push(tenant, 'old client', { sockets: ['*'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('old client');
  });

  it('schedules the sweep when a socket connects and stops it once the tenant has no sockets', async () => {
    const tenant = await newTenant();
    const stub = hubStub(tenant.name);
    const alarmAt = () => runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(await alarmAt()).toBeNull();
    const socket = await connectSocket(tenant);
    expect(await alarmAt()).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await alarmAt()).not.toBeNull();
    socket.ws.close(1000);
    await socket.closed();
    await runInDurableObject(stub, (_, state) => state.storage.sql.exec('DELETE FROM reservations'));
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).body.results).toEqual([]);
    await runDurableObjectAlarm(stub);
    expect(await alarmAt()).toBeNull();
  });

  it('forgets expired connect tokens on the sweep', async () => {
    const tenant = await newTenant();
    const stub = hubStub(tenant.name);
    await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const count = () => runInDurableObject(stub, (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM reservations').one().n);
    expect(await count()).toBe(1);
    await runInDurableObject(stub, (_, state) => state.storage.sql.exec('UPDATE reservations SET expires_at = 0'));
    await runDurableObjectAlarm(stub);
    expect(await count()).toBe(0);
  });
});
