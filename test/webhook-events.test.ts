import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, connect, connectSocket, hubStub, newTenant, type TestTenant } from './helpers';
import type { WebhookEvent } from '../src/core/webhook-events';
import { about, createWebhook, installReceivers, TestReceiver } from './webhook-receiver';

beforeAll(() => installReceivers());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function watched(events?: string[]): Promise<{ tenant: TestTenant; receiver: TestReceiver; secret: string }> {
  const tenant = await newTenant();
  const receiver = new TestReceiver();
  const { secret } = await createWebhook(tenant, receiver, events);
  return { tenant, receiver, secret };
}

describe('socket events', () => {
  it('reports socket.connected with id, tags, user and time, signed the Standard Webhooks way', async () => {
    const { tenant, receiver, secret } = await watched();
    await connectSocket(tenant, { id: 'alice', tags: ['room:1', 'vip'] });
    const [event] = about(await receiver.waitFor((e) => about(e, 'socket.connected', 'alice').length === 1), 'socket.connected', 'alice');
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      type: 'socket.connected',
      timestamp: expect.stringMatching(ISO),
      data: { id: 'alice', tags: ['room:1', 'vip'], user: null, connectedAt: expect.stringMatching(ISO) },
    });
    const post = receiver.posts.find((p) => p.payload.events.some((e) => e.id === event!.id))!;
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(Math.abs(Number(post.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(post.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(post.redirect).toBe('manual');
    expect(receiver.verify(post, secret)).toEqual(post.payload);
    expect(() => receiver.verify({ ...post, body: post.body.replace('alice', 'mallory') }, secret)).toThrow();
  });

  it('reports a client close as socket.disconnected by the client, with its code and reason', async () => {
    const { tenant, receiver } = await watched();
    const socket = await connectSocket(tenant, { id: 'leaver', tags: ['t'] });
    socket.ws.close(4321, 'bye now');
    const events = await receiver.waitFor((e) => about(e, 'socket.disconnected', 'leaver').length === 1);
    expect(about(events, 'socket.disconnected', 'leaver')[0]!.data).toEqual({
      id: 'leaver',
      tags: ['t'],
      user: null,
      connectedAt: expect.stringMatching(ISO),
      code: 4321,
      reason: 'bye now',
      closedBy: 'client',
    });
  });

  it('says who closed: the backend (4001), a newer connection (4003), the keepalive sweep (4002), a limit (1008)', async () => {
    const { tenant, receiver } = await watched();
    await connectSocket(tenant, { id: 'removed' });
    await api('DELETE', `${tenant.base}/v1/sockets/removed`, { token: tenant.token });
    await connectSocket(tenant, { id: 'twice' });
    await connectSocket(tenant, { id: 'twice' });
    const quiet = await connectSocket(tenant, { id: 'quiet' });
    quiet.ws.send('ping');
    await quiet.nextMessage();
    const flooder = await connectSocket(tenant, { id: 'flooder' });
    for (let i = 0; i < 21; i++) flooder.ws.send(`hello ${i}`);
    await flooder.closed();
    // vitest.config.ts sets a 0.3 s keepalive interval: silent for two intervals after a ping is stale.
    await sleep(900);
    await runDurableObjectAlarm(hubStub(tenant.name));
    const events = await receiver.waitFor((e) => e.filter((x) => x.type === 'socket.disconnected').length === 4);
    const closed = (id: string) => about(events, 'socket.disconnected', id).map((e) => e.data as { code: number; closedBy: string });
    expect(closed('removed')).toEqual([expect.objectContaining({ code: 4001, closedBy: 'backend' })]);
    expect(closed('twice')).toEqual([expect.objectContaining({ code: 4003, closedBy: 'replaced' })]);
    expect(closed('quiet')).toEqual([expect.objectContaining({ code: 4002, closedBy: 'keepalive' })]);
    expect(closed('flooder')).toEqual([expect.objectContaining({ code: 1008, closedBy: 'limit' })]);
    // The replaced socket's departure comes before its successor's arrival.
    const twice = events.filter((e) => 'id' in e.data && e.data.id === 'twice').map((e) => e.type);
    expect(twice).toEqual(['socket.connected', 'socket.disconnected', 'socket.connected']);
  });

  it("names the user of a socket opened with an end user's token, and of one a backend minted with a sub", async () => {
    const secret = 'an-hs256-secret-of-at-least-32-characters!';
    const { tenant, receiver } = await watched(['socket.connected']);
    const configured = await api('PUT', `${tenant.base}/v1/configuration`, {
      token: tenant.token,
      body: { accessControl: 'jwt', jwt: { secret, policy: { read: ['*'], write: [] } } },
    });
    expect(configured.status).toBe(200);
    const userToken = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const reserved = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: userToken });
    await connect(reserved.body.uri);
    const key = await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token });
    const minted = await new SignJWT({ sid: 'minted', sub: 'bob' })
      .setProtectedHeader({ alg: 'HS256', kid: key.body.kid })
      .setAudience(tenant.name)
      .setJti(crypto.randomUUID())
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(key.body.secret));
    await connect(`wss://${tenant.name}.example.com/?token=${minted}`);
    const events = await receiver.waitFor((e) => e.length === 2);
    expect(events.find((e) => 'tags' in e.data && e.data.tags.includes('user:alice'))!.data).toMatchObject({ user: 'alice', tags: ['user:alice'] });
    expect(about(events, 'socket.connected', 'minted')[0]!.data).toMatchObject({ user: 'bob' });
  });

  it('delivers only the event types a webhook asked for', async () => {
    const { tenant, receiver } = await watched(['socket.disconnected']);
    const socket = await connectSocket(tenant, { id: 'only-leaving' });
    socket.ws.close(1000);
    const events = await receiver.waitFor((e) => e.length === 1);
    expect(events.map((e) => e.type)).toEqual(['socket.disconnected']);
  });

  it('keeps the order of each socket’s events', async () => {
    const { tenant, receiver } = await watched(['socket.connected', 'socket.disconnected']);
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all(Array.from({ length: 8 }, (_, i) => connectSocket(tenant, { id: `s${i}` })));
      for (const socket of sockets) socket.ws.close(1000);
      await Promise.all(sockets.map((s) => s.closed()));
    }
    const events = await receiver.waitFor((e) => e.length === 48);
    for (let i = 0; i < 8; i++) {
      const types = events.filter((e) => 'id' in e.data && e.data.id === `s${i}`).map((e) => e.type.replace('socket.', ''));
      expect(types).toEqual(['connected', 'disconnected', 'connected', 'disconnected', 'connected', 'disconnected']);
    }
  });

  it('reports every socket of a burst of connects larger than one storage statement holds, each once', async () => {
    const { tenant, receiver } = await watched(['socket.connected', 'socket.disconnected']);
    const ids = Array.from({ length: 120 }, (_, i) => `b${i}`);
    const sockets = await Promise.all(ids.map((id) => connectSocket(tenant, { id })));
    const connects = (events: WebhookEvent[]) => events.filter((e) => e.type === 'socket.connected').map((e) => (e.data as { id: string }).id);
    const connected = await receiver.waitFor((e) => connects(e).length >= ids.length, 10_000);
    expect(connects(connected).sort()).toEqual([...ids].sort());
    // The live-sockets rows were written too: a departure after the burst is reported with its tags and time.
    sockets[0]!.ws.close(1000);
    const [left] = about(await receiver.waitFor((e) => about(e, 'socket.disconnected', 'b0').length === 1), 'socket.disconnected', 'b0');
    expect(left!.data).toMatchObject({ id: 'b0', closedBy: 'client' });
  });

  it('reports sockets that a restart dropped as disconnected by a restart', async () => {
    let droppedAt = 0;
    const { tenant, receiver } = await watched(['socket.disconnected']);
    await connectSocket(tenant, { id: 'survivor' });
    const stub = hubStub(tenant.name);
    await expect.poll(() => runInDurableObject(stub, (_, state) => state.storage.sql.exec('SELECT id FROM live_sockets_by_time').toArray().length)).toBe(1);
    // A socket the object announced (the latest), whose connection the runtime no longer holds: what a restart leaves behind.
    droppedAt = Date.now() + 60_000;
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("INSERT INTO live_sockets_by_time (id, tags, user, connected_at) VALUES ('dropped', '[\"room\"]', NULL, ?)", droppedAt);
    });
    await evictDurableObject(stub);
    await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    const events = await receiver.waitFor((e) => e.length === 1);
    expect(events[0]!.data).toEqual({
      id: 'dropped',
      tags: ['room'],
      user: null,
      connectedAt: new Date(droppedAt).toISOString(),
      code: 1006,
      reason: 'the service restarted',
      closedBy: 'restart',
    });
    expect(await runInDurableObject(stub, (_, state) => state.storage.sql.exec('SELECT id FROM live_sockets_by_time').toArray())).toEqual([{ id: 'survivor' }]);
  });

  it('reports sockets a restart dropped that an earlier version recorded (live sockets by id)', async () => {
    const { tenant, receiver } = await watched(['socket.disconnected']);
    const stub = hubStub(tenant.name);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec('CREATE TABLE live_sockets (id TEXT PRIMARY KEY, tags TEXT NOT NULL, user TEXT, connected_at INTEGER NOT NULL)');
      state.storage.sql.exec("INSERT INTO live_sockets (id, tags, user, connected_at) VALUES ('old-version', '[]', 'ada', 1000)");
    });
    await evictDurableObject(stub);
    await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    const events = await receiver.waitFor((e) => e.length === 1);
    expect(events[0]!.data).toMatchObject({ id: 'old-version', user: 'ada', connectedAt: new Date(1000).toISOString(), closedBy: 'restart' });
    const tables = await runInDurableObject(stub, (_, state) => state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name LIKE 'live_sockets%'").toArray());
    expect(tables).toEqual([{ name: 'live_sockets_by_time' }]);
  });
});

describe('tag events', () => {
  it('reports tag.occupied when the first socket with a tag arrives and tag.vacated when the last one leaves', async () => {
    const { tenant, receiver } = await watched(['tag.occupied', 'tag.vacated']);
    const first = await connectSocket(tenant, { id: 'a', tags: ['room', 'solo'] });
    const second = await connectSocket(tenant, { id: 'b', tags: ['room'] });
    await receiver.waitFor((e) => e.length === 2);
    first.ws.close(1000);
    await first.closed();
    await receiver.waitFor((e) => about(e, 'tag.vacated', 'solo').length === 1);
    second.ws.close(1000);
    const events = await receiver.waitFor((e) => about(e, 'tag.vacated', 'room').length === 1);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['tag.occupied', { tag: 'room' }],
      ['tag.occupied', { tag: 'solo' }],
      ['tag.vacated', { tag: 'solo' }],
      ['tag.vacated', { tag: 'room' }],
    ]);
  });

  it('does not report a tag as vacated when a socket reconnects with the same id', async () => {
    const { tenant, receiver } = await watched(['tag.occupied', 'tag.vacated']);
    await connectSocket(tenant, { id: 'same', tags: ['room'] });
    await connectSocket(tenant, { id: 'same', tags: ['room'] });
    await receiver.waitFor((e) => e.length === 1);
    await sleep(200);
    expect(receiver.uniqueEvents().map((e) => e.type)).toEqual(['tag.occupied']);
  });
});
