import { runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { shardObjectName, shardOf } from '../src/core/shards';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, hubStub, newTenant, type TestTenant } from './helpers';
import { about, createWebhook, installReceivers, TestReceiver } from './webhook-receiver';

beforeAll(() => installReceivers());

async function tenantWithShards(shards: number): Promise<TestTenant> {
  const name = `pr-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards } });
  expect(res.status).toBe(201);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

/** `count` socket ids that land on shard `shard` of a tenant with `shards` shards. */
function idsOnShard(shard: number, shards: number, count: number, prefix: string): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (shardOf(`${prefix}${i}`, shards) === shard) ids.push(`${prefix}${i}`);
  return ids;
}

describe('presence', () => {
  it('counts the sockets with a tag on every shard and pages through their ids', async () => {
    const tenant = await tenantWithShards(3);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const id of ids) await connectSocket(tenant, { id, tags: id < 'e' ? ['room', 'early'] : ['room'] });
    await connectSocket(tenant, { id: 'elsewhere', tags: ['lobby'] });
    const shardsUsed = new Set(ids.map((id) => shardOf(id, 3)));
    expect(shardsUsed.size).toBeGreaterThan(1);
    const first = await api('GET', `${tenant.base}/v1/tags/room?limit=5`, { token: tenant.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ tag: 'room', count: 8 });
    expect(first.body.results).toHaveLength(5);
    const rest = await api('GET', `${tenant.base}/v1/tags/room?limit=5&cursor=${first.body.cursor}`, { token: tenant.token });
    expect(rest.body.cursor).toBeNull();
    const listed = [...first.body.results, ...rest.body.results].map((s: { id: string; tags: string[] }) => s.id);
    expect(listed.sort()).toEqual(ids);
    expect(first.body.results[0]).toEqual({ id: expect.any(String), connectedAt: expect.any(String), tags: expect.arrayContaining(['room']) });
    const empty = await api('GET', `${tenant.base}/v1/tags/nobody-here`, { token: tenant.token });
    expect(empty.body).toEqual({ tag: 'nobody-here', count: 0, results: [], cursor: null });
  });

  it('answers counts for several tags in one call, from memory', async () => {
    const tenant = await tenantWithShards(2);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await connectSocket(tenant, { id, tags: ['all', `only-${id}`, 'with,comma'] });
    const res = await api('GET', `${tenant.base}/v1/presence?tags=all,only-a,missing&tags=only-b`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ tags: { all: 5, 'only-a': 1, missing: 0, 'only-b': 1 } });
  });

  it('refuses a presence query without tags, with too many, or with a malformed tag', async () => {
    const tenant = await newTenant();
    const tooMany = Array.from({ length: 101 }, (_, i) => `t${i}`).join(',');
    for (const query of ['', '?tags=', `?tags=${tooMany}`, `?tags=${'x'.repeat(300)}`]) {
      const res = await api('GET', `${tenant.base}/v1/presence${query}`, { token: tenant.token });
      expect(res.status, query).toBe(422);
    }
    expect((await api('GET', `${tenant.base}/v1/tags/${'x'.repeat(300)}`, { token: tenant.token })).status).toBe(422);
    expect((await api('GET', `${tenant.base}/v1/tags/room?limit=0`, { token: tenant.token })).status).toBe(422);
  });

  it('reports tag.occupied and tag.vacated once for the whole tenant when the tag spans shards', async () => {
    const tenant = await tenantWithShards(3);
    const receiver = new TestReceiver();
    await createWebhook(tenant, receiver, ['tag.occupied', 'tag.vacated']);
    const [zero] = idsOnShard(0, 3, 1, 'z');
    const [one] = idsOnShard(1, 3, 1, 'o');
    const [two] = idsOnShard(2, 3, 1, 't');
    const sockets = [];
    for (const id of [one!, zero!, two!]) sockets.push(await connectSocket(tenant, { id, tags: ['room'] }));
    await receiver.waitFor((events) => events.length === 1);
    // Shards report to shard 0 asynchronously; the tenant-wide view follows the order in which shard 0 hears of them.
    const shardsWithRoom = () =>
      runInDurableObject(hubStub(shardObjectName(tenant.name, 0)), (_, state) => state.storage.sql.exec("SELECT shard FROM tag_shards WHERE tag = 'room'").toArray().length);
    await expect.poll(shardsWithRoom).toBe(3);
    for (const socket of sockets) {
      socket.ws.close(1000);
      await socket.closed();
    }
    const events = await receiver.waitFor((e) => about(e, 'tag.vacated', 'room').length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.uniqueEvents().map((e) => e.type)).toEqual(['tag.occupied', 'tag.vacated']);
    expect(events[0]!.data).toEqual({ tag: 'room' });
    const occupied = await runInDurableObject(hubStub(shardObjectName(tenant.name, 0)), (_, state) => state.storage.sql.exec('SELECT * FROM tag_shards').toArray());
    expect(occupied).toEqual([]);
  });
});
