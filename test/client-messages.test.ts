import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLIENT_MESSAGE_BYTES, MAX_WEBHOOK_BATCH_BYTES } from '../src/core/limits';
import { api, connectSocket, newTenant, type TestTenant } from './helpers';
import { about, createWebhook, gate, installReceivers, TestReceiver } from './webhook-receiver';

beforeAll(() => installReceivers());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function upstreamTenant(): Promise<{ tenant: TestTenant; receiver: TestReceiver }> {
  const tenant = await newTenant();
  const receiver = new TestReceiver();
  await createWebhook(tenant, receiver, ['socket.message', 'socket.disconnected']);
  const res = await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { clientMessages: 'webhook' } });
  expect(res.status).toBe(200);
  expect(res.body.clientMessages).toBe('webhook');
  return { tenant, receiver };
}

describe('client messages upstream', () => {
  it('ignores client frames by default (raw mode)', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    await createWebhook(tenant, receiver, ['socket.message']);
    const socket = await connectSocket(tenant);
    socket.ws.send('hello?');
    await sleep(200);
    expect(receiver.posts).toEqual([]);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('forwards text frames other than ping as socket.message with the socket id and tags, in order', async () => {
    const { tenant, receiver } = await upstreamTenant();
    const socket = await connectSocket(tenant, { id: 'talker', tags: ['room:1'] });
    socket.ws.send('ping');
    expect(await socket.nextMessage()).toBe('pong');
    for (const text of ['first', 'second', '{"json": true}', 'ünïcødé']) socket.ws.send(text);
    socket.ws.send(new Uint8Array([1, 2, 3]));
    const events = await receiver.waitFor((e) => e.length === 4);
    expect(events.map((e) => e.data)).toEqual(
      ['first', 'second', '{"json": true}', 'ünïcødé'].map((data) => ({ id: 'talker', tags: ['room:1'], user: null, connectedAt: expect.any(String), data })),
    );
    await sleep(100);
    expect(receiver.uniqueEvents()).toHaveLength(4);
  });

  it('still closes a client that floods (1008), without forwarding what went over the limit', async () => {
    const { tenant, receiver } = await upstreamTenant();
    const socket = await connectSocket(tenant, { id: 'flooder' });
    for (let i = 0; i < 25; i++) socket.ws.send(`m${i}`);
    expect(await socket.closed()).toMatchObject({ code: 1008, reason: 'policy violation: more than 20 messages in 10 s' });
    const events = await receiver.waitFor((e) => about(e, 'socket.disconnected', 'flooder').length === 1);
    expect(events.filter((e) => e.type === 'socket.message').map((e) => (e.data as { data: string }).data)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(about(events, 'socket.disconnected', 'flooder')[0]!.data).toMatchObject({ code: 1008, closedBy: 'limit' });
  });

  it('closes a client that sends a frame over 8192 bytes with 1009', async () => {
    const { tenant, receiver } = await upstreamTenant();
    const socket = await connectSocket(tenant, { id: 'big' });
    socket.ws.send('é'.repeat(4096));
    socket.ws.send('é'.repeat(4097));
    expect(await socket.closed()).toEqual({ code: 1009, reason: 'message too big: at most 8192 bytes' });
    const events = await receiver.waitFor((e) => about(e, 'socket.disconnected', 'big').length === 1);
    expect(events.filter((e) => e.type === 'socket.message')).toHaveLength(1);
    expect(about(events, 'socket.disconnected', 'big')[0]!.data).toMatchObject({ code: 1009, closedBy: 'limit' });
  });

  it("never forwards one tenant's client messages to another tenant's webhook", async () => {
    const { tenant: a, receiver: receiverA } = await upstreamTenant();
    const { tenant: b, receiver: receiverB } = await upstreamTenant();
    (await connectSocket(a, { id: 'same-id' })).ws.send('for a');
    (await connectSocket(b, { id: 'same-id' })).ws.send('for b');
    await receiverA.waitFor((e) => e.length === 1);
    await receiverB.waitFor((e) => e.length === 1);
    await sleep(100);
    expect(receiverA.uniqueEvents().map((e) => (e.data as { data: string }).data)).toEqual(['for a']);
    expect(receiverB.uniqueEvents().map((e) => (e.data as { data: string }).data)).toEqual(['for b']);
  });

  it(`keeps every POST within ${MAX_WEBHOOK_BATCH_BYTES / 1024} KiB, counting UTF-8 bytes, when large messages queue up`, async () => {
    const { tenant, receiver } = await upstreamTenant();
    const held = gate();
    receiver.answer = (post) => (post === receiver.posts[0] ? held.wait.then(() => new Response('ok')) : new Response('ok'));
    const first = await connectSocket(tenant, { id: 'opener' });
    first.ws.send('open');
    await expect.poll(() => receiver.posts.length).toBe(1);
    // 4,096 two-byte characters: 8,192 bytes, the largest frame a client may send; counted in characters, twice as
    // many would fit in one POST.
    const text = 'é'.repeat(MAX_CLIENT_MESSAGE_BYTES / 2);
    const talkers = await Promise.all(Array.from({ length: 40 }, (_, i) => connectSocket(tenant, { id: `talker${i}` })));
    for (const socket of talkers) socket.ws.send(text);
    const hookId = (await api('GET', `${tenant.base}/v1/webhooks`, { token: tenant.token })).body.results[0].id as string;
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/webhooks/${hookId}/deliveries`, { token: tenant.token })).body.backlog).toBe(41);
    held.open();
    await receiver.waitFor((events) => events.length === 41);
    const later = receiver.posts.slice(1);
    expect(later.length).toBeGreaterThan(1);
    for (const post of later) expect(new TextEncoder().encode(post.body).length).toBeLessThanOrEqual(MAX_WEBHOOK_BATCH_BYTES);
  });

  it('refuses an unknown clientMessages mode with a 422', async () => {
    const tenant = await newTenant();
    const res = await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { clientMessages: 'echo' } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].property).toBe('clientMessages');
  });
});
