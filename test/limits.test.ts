import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, push, type TestTenant } from './helpers';

async function limitedTenant(limits: Record<string, number>): Promise<TestTenant> {
  const name = `l-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, limits } });
  expect(res.status).toBe(201);
  expect(res.body.limits).toMatchObject(limits);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

const upgrade = (url: string) => exports.default.fetch(url, { headers: { upgrade: 'websocket' } });

describe('per-tenant rate limits', () => {
  it('answers pushes beyond the burst with 429 and Retry-After, and delivers only the accepted ones', async () => {
    const tenant = await limitedTenant({ pushesPerSecond: 1 });
    const socket = await connectSocket(tenant);
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof push>> | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await push(tenant, `m${i}`, { sockets: ['*'] });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.slice(0, 2)).toEqual([201, 201]);
    expect(statuses).toContain(429);
    expect(limited?.body).toEqual({ error: { reason: 'rate_limited', message: expect.stringContaining('1 per second') } });
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const accepted = statuses.filter((s) => s === 201).length;
    for (let i = 0; i < accepted; i++) expect(await socket.nextMessage()).toBe(`m${i}`);
    expect(await socket.receivesWithin(200)).toBe(false);
  });

  it('answers connection attempts beyond the burst with HTTP 429', async () => {
    const tenant = await limitedTenant({ connectsPerSecond: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await upgrade(`${tenant.base}/?token=not-a-real-token`);
      res.webSocket?.accept();
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 2)).toEqual([101, 101]);
    expect(statuses).toContain(429);
  });

  it('keeps every shard\'s connect limit when the tenant writes its configuration', async () => {
    const name = `l-${crypto.randomUUID().slice(0, 8)}`;
    const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards: 2, limits: { connectsPerSecond: 1 } } });
    const tenant = { name, token: res.body.securityToken, base: `https://${name}.example.com` };
    const onShardOne = async () => (await upgrade(`${tenant.base}/?token=1~not-a-real-token`)).status;
    expect([await onShardOne(), await onShardOne(), await onShardOne()]).toEqual([101, 101, 429]);
    // Both writes copy the record to shard 1, well within the second the bucket takes to refill one connect.
    expect((await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { accessControl: 'none' } })).status).toBe(200);
    expect((await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token })).status).toBe(201);
    expect(await onShardOne()).toBe(429);
  });

  it('lets the operator change limits, within documented ranges', async () => {
    const tenant = await limitedTenant({ pushesPerSecond: 1 });
    const ok = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/limits`, { token: ADMIN_TOKEN, body: { pushesPerSecond: 500 } });
    expect(ok.status).toBe(200);
    expect(ok.body.limits).toMatchObject({ pushesPerSecond: 500, connectsPerSecond: 500, maxSockets: 32000 });
    for (let i = 0; i < 5; i++) expect((await push(tenant, 'x', { sockets: ['*'] })).status).toBe(201);
    const bad = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/limits`, { token: ADMIN_TOKEN, body: { maxSockets: 40000, pushesPerSecond: 0.5 } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { property: string }) => e.property).sort()).toEqual(['maxSockets', 'pushesPerSecond']);
  });

  it('does not let a tenant raise its own limits', async () => {
    const tenant = await limitedTenant({ pushesPerSecond: 1 });
    const res = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/limits`, { token: tenant.token, body: { pushesPerSecond: 100 } });
    expect(res.status).toBe(401);
  });
});

describe('socket cap', () => {
  it('refuses the socket past maxSockets with 503 tenant_full before the platform would', async () => {
    const tenant = await limitedTenant({ maxSockets: 2 });
    await connectSocket(tenant);
    await connectSocket(tenant);
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const res = await upgrade(reserved.body.uri.replace(/^wss/, 'https'));
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.reason).toBe('tenant_full');
  });
});

describe('client floods', () => {
  it('closes a socket that sends more than 20 messages in 10 s with 1008', async () => {
    const tenant = await limitedTenant({});
    const socket = await connectSocket(tenant);
    for (let i = 0; i < 21; i++) socket.ws.send(`spam ${i}`);
    expect((await socket.closed()).code).toBe(1008);
  });

  it('never counts the keepalive ping against a socket', async () => {
    const tenant = await limitedTenant({});
    const socket = await connectSocket(tenant);
    for (let i = 0; i < 50; i++) socket.ws.send('ping');
    for (let i = 0; i < 50; i++) expect(await socket.nextMessage()).toBe('pong');
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    expect((await push(tenant, 'still open', { sockets: ['*'] })).body.sent).toBe(1);
  });
});

describe('connect by uri keeps working under the limits', () => {
  it('connects a socket reserved before the limit changed', async () => {
    const tenant = await limitedTenant({ connectsPerSecond: 5 });
    const reserved = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token });
    const socket = await connect(reserved.body.uri);
    expect((await push(tenant, 'hello', { sockets: ['*'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('hello');
  });
});
