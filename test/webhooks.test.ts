import { beforeAll, describe, expect, it } from 'vitest';
import { api, connectSocket, newTenant } from './helpers';
import { about, createWebhook, installReceivers, TestReceiver } from './webhook-receiver';

beforeAll(() => installReceivers());

describe('managing webhooks', () => {
  it('creates a webhook, shows its whsec_ secret once, and lists it without the secret', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const created = await api('POST', `${tenant.base}/v1/webhooks`, {
      token: tenant.token,
      body: { url: receiver.url, events: ['socket.disconnected', 'socket.connected', 'socket.connected'], description: 'presence' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^whk_/),
      url: receiver.url,
      events: ['socket.connected', 'socket.disconnected'],
      description: 'presence',
      enabled: true,
      disabled: null,
      previousSecretExpiresAt: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    const list = await api('GET', `${tenant.base}/v1/webhooks`, { token: tenant.token });
    expect(list.status).toBe(200);
    expect(list.body.results).toHaveLength(1);
    expect(list.body.results[0]).not.toHaveProperty('secret');
    const one = await api('GET', `${tenant.base}/v1/webhooks/${created.body.id}`, { token: tenant.token });
    expect(one.body).toEqual(list.body.results[0]);
    expect(JSON.stringify(one.body)).not.toContain(created.body.secret);
  });

  it('allows at most five webhooks per tenant', async () => {
    const tenant = await newTenant();
    for (let i = 0; i < 5; i++) await createWebhook(tenant, new TestReceiver());
    const sixth = await api('POST', `${tenant.base}/v1/webhooks`, { token: tenant.token, body: { url: 'https://x.example/h', events: ['tag.occupied'] } });
    expect(sixth.status).toBe(409);
    expect(sixth.body.error.reason).toBe('too_many_webhooks');
  });

  it.each([
    [{ url: 'http://receiver.example/h', events: ['socket.connected'] }, 'url'],
    [{ url: 'http://127.0.0.1:9999/h', events: ['socket.connected'] }, 'url'],
    [{ url: 'https://user:pass@receiver.example/h', events: ['socket.connected'] }, 'url'],
    [{ url: 'not a url', events: ['socket.connected'] }, 'url'],
    [{ events: ['socket.connected'] }, 'url'],
    [{ url: 'https://receiver.example/h' }, 'events'],
    [{ url: 'https://receiver.example/h', events: [] }, 'events'],
    [{ url: 'https://receiver.example/h', events: ['socket.exploded'] }, 'events[0]'],
    [{ url: 'https://receiver.example/h', events: ['tag.occupied'], description: 7 }, 'description'],
  ])('refuses %j with a 422 naming %s', async (body, property) => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/webhooks`, { token: tenant.token, body });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { property: string }) => e.property)).toContain(property);
  });

  it('changes url, events and description, disables and re-enables, and deletes', async () => {
    const tenant = await newTenant();
    const { id } = await createWebhook(tenant, new TestReceiver());
    const url = `${tenant.base}/v1/webhooks/${id}`;
    const changed = await api('PUT', url, { token: tenant.token, body: { url: 'https://other.example/h', events: ['tag.vacated'], description: null } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ url: 'https://other.example/h', events: ['tag.vacated'], description: null, enabled: true });
    const off = await api('PUT', url, { token: tenant.token, body: { enabled: false } });
    expect(off.body).toMatchObject({ enabled: false, disabled: { reason: 'disabled by the backend', at: expect.any(String) } });
    const on = await api('PUT', url, { token: tenant.token, body: { enabled: true } });
    expect(on.body).toMatchObject({ enabled: true, disabled: null });
    expect((await api('PUT', url, { token: tenant.token, body: {} })).status).toBe(422);
    expect((await api('DELETE', url, { token: tenant.token })).status).toBe(200);
    const gone = await api('GET', url, { token: tenant.token });
    expect(gone.status).toBe(404);
    expect(gone.body.error.reason).toBe('webhook_not_found');
    expect((await api('DELETE', url, { token: tenant.token })).status).toBe(404);
  });

  it('needs the security token for every webhook and presence call', async () => {
    const tenant = await newTenant();
    const { id } = await createWebhook(tenant, new TestReceiver());
    for (const [method, path] of [
      ['GET', '/v1/webhooks'],
      ['POST', '/v1/webhooks'],
      ['GET', `/v1/webhooks/${id}`],
      ['DELETE', `/v1/webhooks/${id}`],
      ['POST', `/v1/webhooks/${id}/secret`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['GET', '/v1/tags/room'],
      ['GET', '/v1/presence?tags=room'],
    ] as const) {
      const body = method === 'POST' && path === '/v1/webhooks' ? { url: 'https://x.example/h', events: ['tag.occupied'] } : undefined;
      const res = await api(method, `${tenant.base}${path}`, { token: 'wrong', body });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    const judgedAfterAuth = await api('POST', `${tenant.base}/v1/webhooks`, { token: 'wrong', body: { url: 'http://nope', events: [] } });
    expect(judgedAfterAuth.status).toBe(401);
    expect((await api('GET', `${tenant.base}/v1/presence?tags=`, { token: 'wrong' })).status).toBe(401);
  });
});

describe('secret rotation', () => {
  it('signs with the new secret and, for the grace period, the previous one too', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id, secret: oldSecret } = await createWebhook(tenant, receiver, ['socket.connected']);
    const rotated = await api('POST', `${tenant.base}/v1/webhooks/${id}/secret`, { token: tenant.token });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(oldSecret);
    const expiresIn = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(86_000_000);
    expect(expiresIn).toBeLessThanOrEqual(86_400_000);
    await connectSocket(tenant, { id: 'after-rotation' });
    await receiver.waitFor((events) => about(events, 'socket.connected', 'after-rotation').length === 1);
    const post = receiver.posts.at(-1)!;
    expect(post.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(receiver.verify(post, rotated.body.secret)).toMatchObject({ tenant: tenant.name });
    expect(receiver.verify(post, oldSecret)).toMatchObject({ tenant: tenant.name });
  });

  it('drops the previous secret at once when asked to', async () => {
    const tenant = await newTenant();
    const receiver = new TestReceiver();
    const { id, secret: oldSecret } = await createWebhook(tenant, receiver, ['socket.connected']);
    const rotated = await api('POST', `${tenant.base}/v1/webhooks/${id}/secret`, { token: tenant.token, body: { previousSecretTtlSeconds: 0 } });
    expect(rotated.body.previousSecretExpiresAt).toBeNull();
    await connectSocket(tenant, { id: 'x' });
    await receiver.waitFor((events) => events.length === 1);
    const post = receiver.posts[0]!;
    expect(receiver.verify(post, rotated.body.secret)).toBeTruthy();
    expect(() => receiver.verify(post, oldSecret)).toThrow(/No matching signature/);
    const bad = await api('POST', `${tenant.base}/v1/webhooks/${id}/secret`, { token: tenant.token, body: { previousSecretTtlSeconds: -1 } });
    expect(bad.status).toBe(422);
  });
});

describe('isolation', () => {
  it("never shows tenant A's webhook B's events, nor lets B read A's webhook", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const receiverA = new TestReceiver();
    const { id } = await createWebhook(a, receiverA);
    await connectSocket(b, { id: 'b-socket', tags: ['room'] });
    await connectSocket(a, { id: 'a-socket', tags: ['room'] });
    await receiverA.waitFor((events) => about(events, 'socket.connected', 'a-socket').length === 1);
    expect(receiverA.posts.every((post) => post.payload.tenant === a.name)).toBe(true);
    expect(about(receiverA.events(), 'socket.connected', 'b-socket')).toEqual([]);
    expect((await api('GET', `${b.base}/v1/webhooks/${id}`, { token: b.token })).status).toBe(404);
    expect((await api('GET', `${b.base}/v1/webhooks/${id}`, { token: a.token })).status).toBe(401);
  });
});
