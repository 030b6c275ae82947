import { runInDurableObject } from 'cloudflare:test';
import { exports } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { shardObjectName } from '../src/core/shards';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, hubStub, push } from './helpers';

/** What an object has stored: its SQL tables (the key-value API's own table included) and its keys. */
const stored = (name: string) =>
  runInDurableObject(hubStub(name), (_, state) => ({
    tables: state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((r) => r.name),
    keys: [...state.storage.kv.list()].map(([key]) => key),
  }));

const NOTHING = { tables: [], keys: [] };
const randomName = () => `nx-${crypto.randomUUID().slice(0, 8)}`;
const upgrade = async (url: string) => {
  const res = await exports.default.fetch(url, { headers: { upgrade: 'websocket' } });
  res.webSocket?.accept();
  return res;
};

describe('objects without a tenant', () => {
  it('store nothing when merely started', async () => {
    expect(await stored(randomName())).toEqual(NOTHING);
  });

  it('store nothing when answering 404 to REST calls and upgrades for a tenant that does not exist', async () => {
    const name = randomName();
    const base = `https://${name}.example.com`;
    expect((await api('GET', `${base}/v1/websocket_uri`)).status).toBe(404);
    expect((await api('POST', `${base}/v1/sockets`, { token: 'mws_guess', body: {} })).status).toBe(404);
    expect((await api('POST', `${base}/v1/messages`, { token: 'mws_guess', body: { data: 'x', receivers: { sockets: ['*'] } } })).status).toBe(404);
    expect((await api('GET', `${ADMIN_BASE}/admin/tenants/${name}`, { token: ADMIN_TOKEN })).status).toBe(404);
    const jwt = await new SignJWT({ sid: 'someone' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k' })
      .setAudience(name)
      .setJti('j')
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    for (const token of ['opaque', '7~opaque', jwt]) {
      const socket = await connect(`${base}/?token=${token}`);
      expect((await socket.closed()).code).toBe(4404);
    }
    for (const shard of [0, 7]) expect(await stored(shardObjectName(name, shard))).toEqual(NOTHING);
  });

  it('store nothing for shard prefixes a real tenant never had', async () => {
    const name = randomName();
    const created = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards: 2 } });
    expect(created.status).toBe(201);
    for (const prefix of [2, 9, 63]) expect((await upgrade(`https://${name}.example.com/?token=${prefix}~bogus`)).status).toBe(101);
    for (const shard of [2, 9, 63]) expect(await stored(shardObjectName(name, shard))).toEqual(NOTHING);
  });

  it('are what a deleted tenant leaves behind on every shard it had', async () => {
    const name = randomName();
    const created = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards: 3 } });
    const tenant = { name, token: created.body.securityToken, base: `https://${name}.example.com` };
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) await connectSocket(tenant, { id, tags: ['t'] });
    await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'pending' } });
    expect((await push(tenant, 'hello', { tags: ['t'] })).body.sent).toBe(6);
    expect((await api('DELETE', `${ADMIN_BASE}/admin/tenants/${name}`, { token: ADMIN_TOKEN })).status).toBe(200);
    for (const shard of [0, 1, 2]) expect(await stored(shardObjectName(name, shard))).toEqual(NOTHING);
  });
});
