import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { shardObjectName } from '../src/core/shards';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, hubStub, push, type TestSocket, type TestTenant } from './helpers';

async function tenantWithShards(shards: number): Promise<TestTenant> {
  const name = `sh-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards } });
  expect(res.status).toBe(201);
  expect(res.body.shards).toBe(shards);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

const socketsOnShard = (tenant: string, shard: number) =>
  runInDurableObject(hubStub(shardObjectName(tenant, shard)), (_, state) => state.getWebSockets().length);

/** 24 sockets: ids s0..s23, tags by residue, so every push below has a known audience. */
async function population(tenant: TestTenant): Promise<Map<string, TestSocket>> {
  const sockets = new Map<string, TestSocket>();
  for (let i = 0; i < 24; i++) {
    const tags = [`mod3:${i % 3}`, ...(i % 4 === 0 ? ['quarter'] : [])];
    sockets.set(`s${i}`, await connectSocket(tenant, { id: `s${i}`, tags }));
  }
  return sockets;
}

const PUSHES = [
  { data: 'all', receivers: { sockets: ['*'], tags: null } },
  { data: 'ids', receivers: { sockets: ['s1', 's5', 's5', 's17', 'nobody'], tags: null } },
  { data: 'tag', receivers: { sockets: null, tags: ['mod3:1'] } },
  { data: 'union', receivers: { sockets: ['s0', 's2'], tags: ['quarter', 'mod3:2'] } },
];

/** What each socket received and what each push reported, for one tenant. */
async function runScript(tenant: TestTenant) {
  const sockets = await population(tenant);
  const sent: number[] = [];
  for (const p of PUSHES) sent.push((await push(tenant, p.data, p.receivers)).body.sent);
  const received: Record<string, string[]> = {};
  for (const [id, socket] of sockets) {
    await socket.receivesWithin(150);
    while (await socket.receivesWithin(20));
    received[id] = [...socket.messages];
  }
  return { sockets, sent, received };
}

async function listAll(tenant: TestTenant, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await api('GET', `${tenant.base}/v1/sockets?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.results.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.results.map((s: { id: string }) => s.id));
    cursor = res.body.cursor;
    if (cursor === null) return ids;
  }
  throw new Error('listing never ended');
}

describe('a tenant spread over several shards', () => {
  it('routes, counts, lists and deletes exactly as one shard does', async () => {
    const one = await tenantWithShards(1);
    const four = await tenantWithShards(4);
    const a = await runScript(one);
    const b = await runScript(four);

    expect(b.sent).toEqual(a.sent);
    expect(a.sent).toEqual([24, 3, 8, 12]);
    expect(b.received).toEqual(a.received);

    const perShard = await Promise.all([0, 1, 2, 3].map((k) => socketsOnShard(four.name, k)));
    expect(perShard.reduce((x, y) => x + y, 0)).toBe(24);
    expect(perShard.filter((n) => n > 0).length).toBeGreaterThan(1);

    for (const tenant of [one, four]) {
      const ids = await listAll(tenant, 5);
      expect(ids).toHaveLength(24);
      expect(new Set(ids).size).toBe(24);
      const info = await api('GET', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN });
      expect(info.body.sockets).toBe(24);
      expect((await api('GET', `${tenant.base}/v1/sockets/s17`, { token: tenant.token })).body).toMatchObject({ id: 's17', tags: ['mod3:2'] });
    }

    for (const [tenant, run] of [[one, a], [four, b]] as const) {
      expect((await api('DELETE', `${tenant.base}/v1/sockets/s5`, { token: tenant.token })).status).toBe(200);
      expect((await run.sockets.get('s5')!.closed()).code).toBe(4001);
      expect((await api('GET', `${tenant.base}/v1/sockets/s5`, { token: tenant.token })).status).toBe(404);
      expect((await push(tenant, 'after delete', { sockets: ['*'] })).body.sent).toBe(23);
    }
  });

  it('keeps sockets reachable by id and tag after the shard count changes', async () => {
    const tenant = await tenantWithShards(2);
    const before = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => connectSocket(tenant, { id, tags: ['old'] })));
    const resized = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/shards`, { token: ADMIN_TOKEN, body: { shards: 5 } });
    expect(resized.body).toEqual({ shards: 5, previous: [2] });
    const after = await Promise.all(['g', 'h', 'i', 'j'].map((id) => connectSocket(tenant, { id, tags: ['new'] })));
    expect((await push(tenant, 'by id', { sockets: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] })).body.sent).toBe(10);
    expect((await push(tenant, 'by tag', { tags: ['old', 'new'] })).body.sent).toBe(10);
    for (const s of [...before, ...after]) {
      expect(await s.nextMessage()).toBe('by id');
      expect(await s.nextMessage()).toBe('by tag');
    }
    expect((await listAll(tenant, 3)).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect((await api('GET', `${tenant.base}/v1/sockets/a`, { token: tenant.token })).status).toBe(200);
  });

  it('places a socket minted by a backend on the shard its sid belongs to', async () => {
    const tenant = await tenantWithShards(4);
    const key = (await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token })).body as { kid: string; secret: string };
    const sockets: TestSocket[] = [];
    for (const sid of ['u1', 'u2', 'u3', 'u4', 'u5']) {
      const token = await new SignJWT({ sid, tags: ['minted'] })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .setAudience(tenant.name)
        .setJti(crypto.randomUUID())
        .setExpirationTime('1m')
        .sign(new TextEncoder().encode(key.secret));
      sockets.push(await connect(`${tenant.base}/?token=${token}`));
    }
    expect((await push(tenant, 'u3 only', { sockets: ['u3'] })).body.sent).toBe(1);
    expect(await sockets[2]!.nextMessage()).toBe('u3 only');
    expect((await push(tenant, 'minted', { tags: ['minted'] })).body.sent).toBe(5);
  });

  it('survives a shard being evicted, and closes every shard\'s sockets when the tenant is deleted', async () => {
    const tenant = await tenantWithShards(3);
    const sockets = await population(tenant);
    for (const k of [0, 1, 2]) if ((await socketsOnShard(tenant.name, k)) > 0) await evictDurableObject(hubStub(shardObjectName(tenant.name, k)));
    expect((await push(tenant, 'after eviction', { sockets: ['*'] })).body.sent).toBe(24);
    const res = await api('DELETE', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    for (const socket of sockets.values()) {
      expect(await socket.nextMessage()).toBe('after eviction');
      expect((await socket.closed()).code).toBe(4000);
    }
  });

  it('refuses a shard count outside 1..64 and a cursor it did not issue', async () => {
    const tenant = await tenantWithShards(2);
    for (const shards of [0, 65, 2.5, '3']) {
      const res = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/shards`, { token: ADMIN_TOKEN, body: { shards } });
      expect(res.status).toBe(422);
    }
    const bad = await api('GET', `${tenant.base}/v1/sockets?cursor=nonsense&limit=0`, { token: tenant.token });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { property: string }) => e.property).sort()).toEqual(['cursor', 'limit']);
  });
});
