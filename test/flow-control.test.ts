import { evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, hubStub, newTenant, push, type TestTenant } from './helpers';
import { connectV2Socket, drop } from './v2-helpers';

const KB16 = 'x'.repeat(16 * 1024);
/** 16 KB envelopes fill the 1 MiB window at the 64th. */
const PER_WINDOW = 64;

async function pushMany(tenant: TestTenant, count: number, tag = 'red'): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await push(tenant, `${i}|${KB16}`, { tags: [tag] });
    expect(res.status).toBe(201);
  }
}

const indexes = (messages: { data?: string }[]) => messages.map((m) => Number(m.data?.split('|')[0]));

describe('acknowledgements and flow control (mws.v2)', () => {
  it('pauses a socket that does not acknowledge once a window is unacknowledged, and serves the rest in order when it acks', async () => {
    const tenant = await newTenant();
    const slow = await connectV2Socket(tenant, { id: 'slow', tags: ['red'] });
    await pushMany(tenant, 100);
    const first = await slow.messages(PER_WINDOW);
    expect(await slow.quietFor(200)).toBe(true);
    expect(first).toHaveLength(PER_WINDOW);
    slow.ack(PER_WINDOW);
    const all = await slow.messages(100);
    expect(indexes(all)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('counts a paused socket as sent: the message waits for it in history', async () => {
    const tenant = await newTenant();
    await connectV2Socket(tenant, { id: 'slow', tags: ['red'] });
    await pushMany(tenant, PER_WINDOW);
    expect((await push(tenant, 'queued', { tags: ['red'] })).body.sent).toBe(1);
  });

  it('keeps a paused socket paused across eviction and serves it from where it stopped', async () => {
    const tenant = await newTenant();
    const slow = await connectV2Socket(tenant, { id: 'slow', tags: ['red'] });
    await pushMany(tenant, 80);
    await slow.messages(PER_WINDOW);
    await evictDurableObject(hubStub(tenant.name));
    await pushMany(tenant, 1);
    expect(await slow.quietFor(200)).toBe(true);
    slow.ack(PER_WINDOW);
    expect(indexes(await slow.messages(81))).toEqual([...Array.from({ length: 80 }, (_, i) => i), 0]);
  });

  it('tells a paused socket whose messages were trimmed meanwhile, then sends it live messages', async () => {
    const tenant = await newTenant();
    expect((await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { history: { maxMessages: 10 } } })).status).toBe(200);
    const slow = await connectV2Socket(tenant, { id: 'slow', tags: ['red'] });
    await pushMany(tenant, 120);
    await slow.messages(PER_WINDOW);
    slow.ack(PER_WINDOW);
    expect(await slow.resumeFailed()).toMatchObject({ reason: 'history_trimmed', seq: 120 });
    await push(tenant, 'live', { tags: ['red'] });
    const after = await slow.messages(PER_WINDOW + 1);
    expect(after.at(-1)).toMatchObject({ seq: 121, data: 'live' });
  });

  it('paces a large replay by the window too: a resume of more than a window continues as the client acks', async () => {
    const tenant = await newTenant();
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await drop(alice);
    await pushMany(tenant, 100);
    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    await back.messages(PER_WINDOW);
    expect(await back.quietFor(200)).toBe(true);
    back.ack(PER_WINDOW);
    expect(indexes(await back.messages(100))).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('treats frames other than acks as client messages, as on a raw socket: ignored, and 1008 past 20 in 10 s', async () => {
    const tenant = await newTenant();
    const socket = await connectV2Socket(tenant, { id: 'chatty' });
    await socket.hello();
    for (let i = 0; i < 20; i++) socket.ws.send(`hello server ${i}`);
    await push(tenant, 'still open', { sockets: ['chatty'] });
    expect((await socket.messages(1))[0]).toMatchObject({ data: 'still open' });
    socket.ws.send('one too many');
    expect(await socket.closed()).toMatchObject({ code: 1008 });
  });

  it('accepts many acks, but closes a client that acks more than 300 times in 10 s', async () => {
    const tenant = await newTenant();
    const socket = await connectV2Socket(tenant, { id: 'acker' });
    await socket.hello();
    for (let i = 0; i < 301; i++) socket.ack(0);
    expect(await socket.closed()).toMatchObject({ code: 1008 });
  });
});
