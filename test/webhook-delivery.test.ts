import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_WEBHOOK_BATCH_EVENTS, WEBHOOK_RETRY_DELAYS_MS, WEBHOOK_RUN_INTERVAL_MS } from '../src/core/limits';
import { api, connectSocket, hubStub, newTenant, push, type TestTenant } from './helpers';
import { createWebhook, gate, installReceivers, TestReceiver } from './webhook-receiver';

beforeAll(() => installReceivers());

type TargetState = {
  next_attempt_at: number;
  attempts: number;
  failing_since: number | null;
};

const targetState = (tenant: TestTenant, id: string) =>
  runInDurableObject(hubStub(tenant.name), (_, state) => state.storage.sql.exec<TargetState>('SELECT * FROM outbox_targets WHERE target = ?', id).toArray()[0]);

/** Moves the clock of a webhook's delivery state: the retry is due now, and it has been failing since `failingSince`. */
const timeTravel = (tenant: TestTenant, id: string, failingSince?: number) =>
  runInDurableObject(hubStub(tenant.name), (_, state) => {
    state.storage.sql.exec('UPDATE outbox_targets SET next_attempt_at = 0 WHERE target = ?', id);
    if (failingSince !== undefined) state.storage.sql.exec('UPDATE outbox_targets SET failing_since = ? WHERE target = ?', failingSince, id);
  });

describe('webhook delivery', () => {
  it(`batches the events that queued up while a POST was in flight, at most ${MAX_WEBHOOK_BATCH_EVENTS} to a POST`, async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    const held = gate();
    receiver.answer = (post) => (post === receiver.posts[0] ? held.wait.then(() => new Response('ok')) : new Response('ok'));
    await connectSocket(tenant, { id: 'first' });
    await expect.poll(() => receiver.posts.length).toBe(1);
    const queued = MAX_WEBHOOK_BATCH_EVENTS + 20;
    await Promise.all(Array.from({ length: queued }, (_, i) => connectSocket(tenant, { id: `s${i}` })));
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries`, { token: tenant.token })).body.backlog).toBe(queued + 1);
    held.open();
    await receiver.waitFor((events) => events.length === queued + 1);
    expect(receiver.posts.map((p) => p.payload.events.length)).toEqual([1, MAX_WEBHOOK_BATCH_EVENTS, 20]);
    const ids = receiver.posts.slice(1).flatMap((p) => p.payload.events.map((e) => (e.data as { id: string }).id));
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: queued }, (_, i) => `s${i}`)));
  });

  it('sends a burst of connects in a few POSTs, delivery runs starting at least 100 ms apart', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    await createWebhook(tenant, receiver, ['socket.connected']);
    const started = Date.now();
    for (let i = 0; i < 40; i++) await connectSocket(tenant, { id: `s${i}` });
    const elapsed = Date.now() - started;
    const events = await receiver.waitFor((received) => received.length === 40);
    expect(events.map((e) => (e.data as { id: string }).id)).toEqual(Array.from({ length: 40 }, (_, i) => `s${i}`));
    expect(receiver.posts.length).toBeLessThanOrEqual(Math.ceil(elapsed / WEBHOOK_RUN_INTERVAL_MS) + 2);
    const arrivals = receiver.posts.map((post) => post.receivedAt);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(WEBHOOK_RUN_INTERVAL_MS / 2);
  });

  it('retries a failed batch unchanged, with the same webhook-id, after an exponential backoff', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response('try later', { status: 503 });
    const before = Date.now();
    await connectSocket(tenant, { id: 'retried' });
    await expect.poll(async () => (await targetState(tenant, id))?.attempts).toBe(1);
    const first = await targetState(tenant, id);
    const firstDelay = first!.next_attempt_at - first!.failing_since!;
    expect(first!.failing_since).toBeGreaterThanOrEqual(before);
    expect(firstDelay).toBeGreaterThanOrEqual(WEBHOOK_RETRY_DELAYS_MS[0]! * 0.8);
    expect(firstDelay).toBeLessThanOrEqual(WEBHOOK_RETRY_DELAYS_MS[0]! * 1.2);
    await connectSocket(tenant, { id: 'queued-behind' });
    await timeTravel(tenant, id);
    await runDurableObjectAlarm(hubStub(tenant.name));
    await expect.poll(async () => (await targetState(tenant, id))?.attempts).toBe(2);
    const second = await targetState(tenant, id);
    expect(second!.next_attempt_at - Date.now()).toBeGreaterThan(WEBHOOK_RETRY_DELAYS_MS[1]! * 0.7);
    expect(second!.failing_since).toBe(first!.failing_since);
    receiver.answer = () => new Response(null, { status: 204 });
    await timeTravel(tenant, id);
    await runDurableObjectAlarm(hubStub(tenant.name));
    await receiver.waitFor((events) => events.length === 2);
    const [a, b, c, d] = receiver.posts;
    expect(b!.headers['webhook-id']).toBe(a!.headers['webhook-id']);
    expect(b!.body).toBe(a!.body);
    expect(c!.body).toBe(a!.body);
    expect(d!.payload.events.map((e) => (e.data as { id: string }).id)).toEqual(['queued-behind']);
    expect(d!.headers['webhook-id']).not.toBe(a!.headers['webhook-id']);
    await expect.poll(() => targetState(tenant, id)).toBeUndefined();
  });

  it('survives the object being evicted while a delivery waits for its retry', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response(null, { status: 500 });
    await connectSocket(tenant, { id: 'durable' });
    await expect.poll(() => receiver.posts.length).toBe(1);
    await evictDurableObject(hubStub(tenant.name));
    receiver.answer = () => new Response(null, { status: 200 });
    await timeTravel(tenant, id);
    await runDurableObjectAlarm(hubStub(tenant.name));
    await expect.poll(() => receiver.posts.length).toBe(2);
    expect(receiver.posts[1]!.headers['webhook-id']).toBe(receiver.posts[0]!.headers['webhook-id']);
  });

  it('resends a batch an earlier version marked on its rows with the same webhook-id, then the events after it', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    const event = (n: number) =>
      JSON.stringify({ id: `evt_old${n}`, type: 'socket.connected', timestamp: '2026-11-30T12:00:00.000Z', data: { id: `old${n}`, tags: [], user: null, connectedAt: '2026-11-30T12:00:00.000Z' } });
    await runInDurableObject(hubStub(tenant.name), async (_, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE outbox_targets');
      sql.exec('CREATE TABLE outbox_targets (target TEXT PRIMARY KEY, next_attempt_at INTEGER NOT NULL, attempts INTEGER NOT NULL, failing_since INTEGER)');
      sql.exec('INSERT INTO outbox_targets (target, next_attempt_at, attempts, failing_since) VALUES (?, 0, 1, ?)', id, Date.now());
      for (const n of [0, 1, 2]) sql.exec('INSERT INTO outbox (target, event, message) VALUES (?, ?, ?)', id, event(n), n < 2 ? 'msg_legacy' : null);
      await state.storage.setAlarm(Date.now());
    });
    await evictDurableObject(hubStub(tenant.name));
    await runDurableObjectAlarm(hubStub(tenant.name));
    await receiver.waitFor((received) => received.length === 3);
    expect(receiver.posts[0]!.headers['webhook-id']).toBe('msg_legacy');
    expect(receiver.posts.map((post) => post.payload.events.map((e) => e.id))).toEqual([['evt_old0', 'evt_old1'], ['evt_old2']]);
    expect(receiver.posts[1]!.headers['webhook-id']).not.toBe('msg_legacy');
  });

  it('disables a webhook that kept failing for a day, with the reason, and drops its backlog', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response('down for maintenance', { status: 500 });
    await connectSocket(tenant, { id: 'never-delivered' });
    await expect.poll(() => receiver.posts.length).toBe(1);
    await timeTravel(tenant, id, Date.now() - 25 * 3_600_000);
    await runDurableObjectAlarm(hubStub(tenant.name));
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/webhooks/${id}`, { token: tenant.token })).body).toMatchObject({ enabled: false });
    const view = (await api('GET', `${tenant.base}/v1/webhooks/${id}`, { token: tenant.token })).body;
    expect(view.disabled.reason).toBe('deliveries failed for 25 hours; last error: HTTP 500');
    expect(await targetState(tenant, id)).toBeUndefined();
    const posts = receiver.posts.length;
    await connectSocket(tenant, { id: 'after-disable' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.posts.length).toBe(posts);
  });

  it('disables a webhook at once when the receiver answers 410 Gone', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response(null, { status: 410 });
    await connectSocket(tenant);
    await expect
      .poll(async () => (await api('GET', `${tenant.base}/v1/webhooks/${id}`, { token: tenant.token })).body.disabled?.reason)
      .toBe('the receiver answered 410 Gone; last error: HTTP 410');
  });

  it('does not follow redirects', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const elsewhere = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response(null, { status: 302, headers: { location: elsewhere.url } });
    await connectSocket(tenant);
    await expect.poll(async () => (await targetState(tenant, id))?.attempts).toBe(1);
    expect(elsewhere.posts).toEqual([]);
    const deliveries = await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries`, { token: tenant.token });
    expect(deliveries.body.results[0]).toMatchObject({ status: 302, error: 'redirect (HTTP 302) not followed' });
  });

  it('lists recent deliveries, newest first, with time, status, latency, error and a short excerpt of the answer', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    receiver.answer = () => new Response('x'.repeat(10_000), { status: 500 });
    await connectSocket(tenant, { id: 'listed' });
    await expect.poll(() => receiver.posts.length).toBe(1);
    receiver.answer = () => new Response('thanks', { status: 200 });
    await timeTravel(tenant, id);
    await runDurableObjectAlarm(hubStub(tenant.name));
    await expect.poll(() => receiver.posts.length).toBe(2);
    const res = await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.backlog).toBe(0);
    const messageId = receiver.posts[0]!.headers['webhook-id'];
    expect(res.body.results).toEqual([
      { id: messageId, attemptedAt: expect.any(String), attempt: 2, events: 1, status: 200, latencyMs: expect.any(Number), error: null, response: 'thanks' },
      { id: messageId, attemptedAt: expect.any(String), attempt: 1, events: 1, status: 500, latencyMs: expect.any(Number), error: 'HTTP 500', response: 'x'.repeat(256) },
    ]);
    expect((await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries?limit=1`, { token: tenant.token })).body.results).toHaveLength(1);
    for (const limit of ['0', '51', 'x']) {
      expect((await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries?limit=${limit}`, { token: tenant.token })).status).toBe(422);
    }
  });

  it('keeps only the 50 latest attempts per webhook', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected']);
    for (let i = 0; i < 55; i++) {
      await connectSocket(tenant, { id: `s${i}` });
      await expect.poll(() => receiver.posts.length, { interval: 5 }).toBe(i + 1);
    }
    const res = await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries`, { token: tenant.token });
    expect(res.body.results).toHaveLength(50);
    const stored = await runInDurableObject(hubStub(tenant.name), (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM outbox_deliveries').one().n);
    expect(stored).toBe(50);
  });

  it('never makes connects or pushes wait for a receiver that does not answer', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id } = await createWebhook(tenant, receiver, ['socket.connected', 'socket.disconnected']);
    const held = gate();
    receiver.answer = () => held.wait.then(() => new Response(null, { status: 204 }));
    const sockets = [];
    for (let i = 0; i < 5; i++) sockets.push(await connectSocket(tenant, { id: `s${i}`, tags: ['all'] }));
    expect((await push(tenant, 'still flowing', { tags: ['all'] })).body.sent).toBe(5);
    for (const socket of sockets) expect(await socket.nextMessage()).toBe('still flowing');
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/webhooks/${id}/deliveries`, { token: tenant.token })).body.backlog).toBe(5);
    expect(receiver.posts).toHaveLength(1);
    held.open();
    await receiver.waitFor((events) => events.length === 5);
  });

  it('lets healthy pinging sockets sleep: with a webhook configured, pings never wake the object', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    await createWebhook(tenant, receiver);
    const socket = await connectSocket(tenant, { tags: ['room'] });
    await receiver.waitFor((events) => events.length === 2);
    const stub = hubStub(tenant.name);
    await evictDurableObject(stub);
    for (let i = 0; i < 10; i++) socket.ws.send('ping');
    for (let i = 0; i < 10; i++) expect(await socket.nextMessage()).toBe('pong');
    // Eviction rejects when the object is not running: the pings left it asleep.
    await expect(evictDurableObject(stub)).rejects.toThrow();
  });
});
