import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { shardObjectName, shardOf } from '../src/core/shards';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, hubStub, newTenant, push, type TestTenant } from './helpers';
import { connectV2Socket, drop, texts } from './v2-helpers';

async function setHistory(tenant: TestTenant, history: Record<string, unknown>): Promise<void> {
  const res = await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { history } });
  expect(res.status).toBe(200);
}

describe('mws.v2 connections', () => {
  it('answers the mws.v2 subprotocol in the 101 and opens with a hello naming the socket, epoch and position', async () => {
    const tenant = await newTenant();
    const socket = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    expect(socket.protocol).toBe('mws.v2');
    const hello = await socket.hello();
    expect(hello).toEqual({ type: 'hello', socket: 'alice', epoch: expect.any(String), seq: 0, resume: expect.any(String), window: 1024 * 1024 });
  });

  it('wraps each message in an envelope with its seq and the id the push answered', async () => {
    const tenant = await newTenant();
    const socket = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    const first = await push(tenant, 'one', { tags: ['red'] });
    const second = await push(tenant, 'two', { sockets: ['*'] });
    expect(await socket.messages(2)).toEqual([
      { type: 'msg', seq: 1, id: first.body.id, data: 'one' },
      { type: 'msg', seq: 2, id: second.body.id, data: 'two' },
    ]);
  });

  it('keeps raw sockets on the same tenant byte for byte: data as one text frame and nothing else', async () => {
    const tenant = await newTenant();
    const raw = await connectSocket(tenant, { id: 'raw', tags: ['red'] });
    const v2 = await connectV2Socket(tenant, { id: 'v2', tags: ['red'] });
    await push(tenant, '{"not":"an envelope"}', { tags: ['red'] });
    await v2.messages(1);
    expect(await raw.nextMessage()).toBe('{"not":"an envelope"}');
    expect(await raw.receivesWithin(100)).toBe(false);
  });

  it('stores no history at all for a tenant whose sockets are all raw', async () => {
    const tenant = await newTenant();
    await connectSocket(tenant, { id: 'raw' });
    for (let i = 0; i < 5; i++) await push(tenant, `m${i}`, { sockets: ['*'] });
    const tables = await runInDurableObject(hubStub(tenant.name), (_i, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((t) => t.name),
    );
    expect(tables).not.toContain('history');
  });
});

describe('resume', () => {
  it('replays exactly what the socket missed (by id, tag and "*"), none of what it must not receive, then continues live', async () => {
    const tenant = await newTenant();
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await push(tenant, 'before', { sockets: ['alice'] });
    await alice.messages(1);
    await drop(alice);

    await push(tenant, 'by id', { sockets: ['alice'] });
    await push(tenant, 'to bob', { sockets: ['bob'] });
    await push(tenant, 'by tag', { tags: ['red'] });
    await push(tenant, 'other tag', { tags: ['blue'] });
    await push(tenant, 'to all', { sockets: ['*'] });
    await push(tenant, 'union', { sockets: ['alice'], tags: ['red'] });

    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    const hello = await back.hello();
    expect(hello).toMatchObject({ resumed: true, seq: 1 });
    expect(texts(await back.messages(4))).toEqual(['by id', 'by tag', 'to all', 'union']);
    await push(tenant, 'live', { tags: ['red'] });
    const all = await back.messages(5);
    expect(texts(all)).toEqual(['by id', 'by tag', 'to all', 'union', 'live']);
    expect(all.map((m) => m.seq)).toEqual([2, 4, 6, 7, 8]);
    expect(back.frames.some((f) => f.type === 'resume_failed')).toBe(false);
  });

  it('resumes after the tenant object was evicted', async () => {
    const tenant = await newTenant();
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await push(tenant, 'one', { tags: ['red'] });
    await alice.messages(1);
    await drop(alice);
    await push(tenant, 'two', { tags: ['red'] });
    await evictDurableObject(hubStub(tenant.name));
    await push(tenant, 'three', { tags: ['red'] });
    await evictDurableObject(hubStub(tenant.name));

    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    expect((await back.hello()).resumed).toBe(true);
    expect(texts(await back.messages(2))).toEqual(['two', 'three']);
  });

  it('keeps delivering live with envelopes to a connected socket across eviction', async () => {
    const tenant = await newTenant();
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await push(tenant, 'one', { tags: ['red'] });
    await evictDurableObject(hubStub(tenant.name));
    await push(tenant, 'two', { tags: ['red'] });
    expect((await alice.messages(2)).map((m) => [m.seq, m.data])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
  });

  it('says history_trimmed when the messages after the position are no longer kept, then continues live', async () => {
    const tenant = await newTenant();
    await setHistory(tenant, { maxMessages: 5 });
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await drop(alice);
    for (let i = 0; i < 40; i++) await push(tenant, `m${i}`, { tags: ['red'] });

    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    const hello = await back.hello();
    expect(hello).toMatchObject({ resumed: false, seq: 40 });
    expect(await back.resumeFailed()).toMatchObject({ type: 'resume_failed', reason: 'history_trimmed', seq: 40 });
    expect(back.frames.map((f) => f.type)).toEqual(['hello', 'resume_failed']);
    await push(tenant, 'live', { tags: ['red'] });
    expect(await back.messages(1)).toEqual([expect.objectContaining({ seq: 41, data: 'live' })]);
  });

  it('says epoch_changed when the tenant was deleted and created again', async () => {
    const tenant = await newTenant();
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await push(tenant, 'old life', { tags: ['red'] });
    await alice.messages(1);
    const position = alice.resumeParam();
    expect((await api('DELETE', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).status).toBe(200);
    const created = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name: tenant.name } });
    const again = { ...tenant, token: created.body.securityToken as string };
    await push(again, 'new life', { tags: ['red'] });

    const back = await connectV2Socket(again, { id: 'alice', tags: ['red'] }, position);
    const hello = await back.hello();
    expect(hello.resumed).toBe(false);
    expect(hello.epoch).not.toBe((await alice.hello()).epoch);
    expect(await back.resumeFailed()).toMatchObject({ type: 'resume_failed', reason: 'epoch_changed' });
    expect(await back.quietFor(100)).toBe(true);
  });

  it('resumes each socket of a sharded tenant from its own shard', async () => {
    const name = `sh-${crypto.randomUUID().slice(0, 8)}`;
    const created = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards: 3 } });
    const tenant = { name, token: created.body.securityToken as string, base: `https://${name}.example.com` };
    const ids = Array.from({ length: 6 }, (_, i) => `u${i}`);
    const sockets = await Promise.all(ids.map((id) => connectV2Socket(tenant, { id, tags: ['all'] })));
    const epochs = new Set((await Promise.all(sockets.map((s) => s.hello()))).map((h) => h.epoch));
    expect(epochs.size).toBeGreaterThan(1);
    for (const s of sockets) await drop(s);
    await push(tenant, 'tag', { tags: ['all'] });
    await push(tenant, 'u1 only', { sockets: ['u1'] });
    await push(tenant, 'star', { sockets: ['*'] });

    for (const [i, id] of ids.entries()) {
      const back = await connectV2Socket(tenant, { id, tags: ['all'] }, (sockets[i] as (typeof sockets)[number]).resumeParam());
      expect((await back.hello()).resumed).toBe(true);
      expect(texts(await back.messages(id === 'u1' ? 3 : 2))).toEqual(id === 'u1' ? ['tag', 'u1 only', 'star'] : ['tag', 'star']);
      expect(await back.quietFor(50)).toBe(true);
    }
    const shardsUsed = await Promise.all([0, 1, 2].map((k) => runInDurableObject(hubStub(shardObjectName(name, k)), (_i, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM history').one().n)));
    expect(shardsUsed.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it('says moved when a resize placed the socket id on another shard, and resumes ids that stayed', async () => {
    const tenant = await newTenant();
    const movingId = Array.from({ length: 50 }, (_, i) => `m${i}`).find((id) => shardOf(id, 3) !== 0) as string;
    const stayingId = Array.from({ length: 50 }, (_, i) => `s${i}`).find((id) => shardOf(id, 3) === 0) as string;
    const moving = await connectV2Socket(tenant, { id: movingId, tags: ['all'] });
    const staying = await connectV2Socket(tenant, { id: stayingId, tags: ['all'] });
    await Promise.all([moving.hello(), staying.hello()]);
    await drop(moving);
    await drop(staying);
    expect((await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/shards`, { token: ADMIN_TOKEN, body: { shards: 3 } })).status).toBe(200);
    await push(tenant, 'after resize', { tags: ['all'] });

    const movedBack = await connectV2Socket(tenant, { id: movingId, tags: ['all'] }, moving.resumeParam());
    expect(await movedBack.resumeFailed()).toMatchObject({ reason: 'moved' });
    const stayedBack = await connectV2Socket(tenant, { id: stayingId, tags: ['all'] }, staying.resumeParam());
    expect(texts(await stayedBack.messages(1))).toEqual(['after resize']);
  });
});
