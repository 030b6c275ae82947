import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { idForShard, shardObjectName, shardOf } from '../src/core/shards';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, hubStub, push, type TestTenant } from './helpers';

async function createTenant(name: string, shards: number): Promise<TestTenant> {
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards } });
  expect(res.status).toBe(201);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

const freshName = () => `rs-${crypto.randomUUID().slice(0, 8)}`;
const resize = (tenant: TestTenant, shards: number) => api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/shards`, { token: ADMIN_TOKEN, body: { shards } });
const deleteTenant = (tenant: TestTenant) => api('DELETE', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN });
const listIds = async (tenant: TestTenant) =>
  (await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).body.results.map((s: { id: string }) => s.id) as string[];
const socketsOnShard = (tenant: string, shard: number) =>
  runInDurableObject(hubStub(shardObjectName(tenant, shard)), (_, state) => state.getWebSockets().length);

/** A socket id that `shards` counts place on the given shards, in order. */
function idPlaced(...placements: [shards: number, shard: number][]): string {
  for (let i = 0; ; i++) {
    const id = `id-${i}`;
    if (placements.every(([shards, shard]) => shardOf(id, shards) === shard)) return id;
  }
}

/** A socket id whose shard differs between the two counts. */
const idThatMoves = (from: number, to: number) => {
  for (let i = 0; ; i++) if (shardOf(`mv-${i}`, from) !== shardOf(`mv-${i}`, to)) return `mv-${i}`;
};

async function signingKey(tenant: TestTenant): Promise<{ kid: string; secret: string }> {
  const res = await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token });
  expect(res.status).toBe(201);
  return res.body;
}

const mint = (key: { kid: string; secret: string }, tenant: TestTenant, claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .setAudience(tenant.name)
    .setJti(crypto.randomUUID())
    .setExpirationTime('2m')
    .sign(new TextEncoder().encode(key.secret));

describe('resizing a tenant', () => {
  it('keeps a socket on a shard from many layouts ago reachable, closes it on delete, and hands the name over empty', async () => {
    const tenant = await createTenant(freshName(), 16);
    const id = idForShard(14, 16);
    const socket = await connectSocket(tenant, { id, tags: ['far'] });
    expect(await socketsOnShard(tenant.name, 14)).toBe(1);
    for (let shards = 2; shards <= 10; shards++) expect((await resize(tenant, shards)).status).toBe(200);

    expect((await push(tenant, 'everyone', { sockets: ['*'] })).body.sent).toBe(1);
    expect((await push(tenant, 'by tag', { tags: ['far'] })).body.sent).toBe(1);
    expect((await push(tenant, 'by id', { sockets: [id] })).body.sent).toBe(1);
    expect([await socket.nextMessage(), await socket.nextMessage(), await socket.nextMessage()]).toEqual(['everyone', 'by tag', 'by id']);
    expect((await api('GET', `${tenant.base}/v1/sockets/${id}`, { token: tenant.token })).status).toBe(200);
    expect(await listIds(tenant)).toEqual([id]);

    expect((await deleteTenant(tenant)).status).toBe(200);
    expect((await socket.closed()).code).toBe(4000);
    const keysOn = (shard: number) => runInDurableObject(hubStub(shardObjectName(tenant.name, shard)), (_, state) => [...state.storage.kv.list()].length);
    expect(await Promise.all([0, 10, 14, 15].map(keysOn))).toEqual([0, 0, 0, 0]);

    const successor = await createTenant(tenant.name, 16);
    expect((await push(successor, 'new owner', { sockets: ['*'] })).body.sent).toBe(0);
    expect(await listIds(successor)).toEqual([]);
    expect(await socketsOnShard(tenant.name, 14)).toBe(0);
  });

  it('leaves no copy of the record on any shard when a tenant\'s own change races its delete', async () => {
    for (let round = 0; round < 3; round++) {
      const tenant = await createTenant(freshName(), 4);
      const [deleted] = await Promise.all([
        deleteTenant(tenant),
        new Promise((wake) => setTimeout(wake, round)).then(() => api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token })),
      ]);
      expect(deleted.status).toBe(200);
      const keysOn = (shard: number) => runInDurableObject(hubStub(shardObjectName(tenant.name, shard)), (_, state) => [...state.storage.kv.list()].length);
      expect(await Promise.all([0, 1, 2, 3].map(keysOn))).toEqual([0, 0, 0, 0]);
    }
  });

  it('closes the older connection of a socket id with 4003 when the id connects again on another shard', async () => {
    const tenant = await createTenant(freshName(), 2);
    const id = idThatMoves(2, 3);
    const older = await connectSocket(tenant, { id });
    const reservedBefore = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id } });
    expect((await resize(tenant, 3)).status).toBe(200);

    const newer = await connectSocket(tenant, { id });
    expect((await older.closed()).code).toBe(4003);
    expect((await push(tenant, 'one copy', { sockets: [id] })).body.sent).toBe(1);
    expect(await newer.nextMessage()).toBe('one copy');

    // A URI reserved under the old layout still connects on the old shard, and still replaces the live one.
    const newest = await connect(reservedBefore.body.uri);
    expect((await newer.closed()).code).toBe(4003);
    expect((await push(tenant, 'still one', { sockets: [id] })).body.sent).toBe(1);
    expect(await newest.nextMessage()).toBe('still one');
  });

  it('lets a backend-minted token connect only once, even after the shard count changes', async () => {
    const tenant = await createTenant(freshName(), 2);
    const sid = idThatMoves(2, 3);
    const token = await mint(await signingKey(tenant), tenant, { sid });
    const first = await connect(`${tenant.base}/?token=${token}`);
    expect((await resize(tenant, 3)).status).toBe(200);
    const replay = await connect(`${tenant.base}/?token=${token}`);
    expect((await replay.closed()).code).toBe(4401);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('routes backend-minted tokens by the current layout after the tenant is deleted and created with another shard count', async () => {
    // Old layout 3 shards, new layout 1 or 2: the id's old shard is 1, its new shard 0.
    const sid = idPlaced([3, 1], [2, 0]);
    for (const shards of [1, 2]) {
      const old = await createTenant(freshName(), 3);
      await connect(`${old.base}/?token=${await mint(await signingKey(old), old, { sid })}`);
      expect((await deleteTenant(old)).status).toBe(200);

      const tenant = await createTenant(old.name, shards);
      const socket = await connect(`${tenant.base}/?token=${await mint(await signingKey(tenant), tenant, { sid })}`);
      expect(socket.ws.readyState).toBe(WebSocket.OPEN);
      expect((await push(tenant, 'found', { sockets: [sid] })).body.sent).toBe(1);
      expect(await socket.nextMessage()).toBe('found');
    }
  });

  it('forgets an earlier shard count once no socket placed under it is left and its tokens have expired', async () => {
    const tenant = await createTenant(freshName(), 2);
    const stays = idPlaced([2, 1], [3, 0]);
    const socket = await connectSocket(tenant, { id: stays });
    expect((await resize(tenant, 3)).body).toEqual({ shards: 3, previous: [2] });

    const settle = async () => {
      // Pretend the resize happened two hours ago: every connect token issued before it has expired.
      await runInDurableObject(hubStub(tenant.name), (_, state) => {
        const record = state.storage.kv.get<Record<string, unknown>>('tenant');
        state.storage.kv.put('tenant', { ...record, resizedAt: Date.now() - 2 * 3600_000 });
      });
      await evictDurableObject(hubStub(tenant.name));
      expect(await runDurableObjectAlarm(hubStub(tenant.name))).toBe(true);
      return (await api('GET', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).body;
    };
    // The socket placed under 2 shards is still there: the count stays.
    expect((await settle()).previousShards).toEqual([2]);
    expect((await push(tenant, 'found', { sockets: [stays] })).body.sent).toBe(1);

    socket.ws.close(1000);
    await socket.closed();
    expect((await settle()).previousShards).toEqual([]);
  });
});
