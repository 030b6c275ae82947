import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, hubStub, push, type TestTenant } from './helpers';
import { connectV2 } from './v2-helpers';

async function tenantWithOneSocket(): Promise<TestTenant> {
  const name = `c-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, limits: { maxSockets: 1 } } });
  expect(res.status).toBe(201);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

describe('sockets the server closed', () => {
  it('give back their maxSockets slot at once, even when the client never answers the close', async () => {
    const tenant = await tenantWithOneSocket();
    const silent = await connectSocket(tenant, { id: 'silent' }, { neverAnswersClose: true });
    expect((await api('DELETE', `${tenant.base}/v1/sockets/silent`, { token: tenant.token })).status).toBe(200);
    expect((await silent.closed()).code).toBe(4001);

    const next = await connectSocket(tenant, { id: 'next' });
    expect((await push(tenant, 'hello', { sockets: ['*'] })).body.sent).toBe(1);
    expect(await next.nextMessage()).toBe('hello');
    const listed = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(listed.body.results.map((s: { id: string }) => s.id)).toEqual(['next']);
  });

  it('are not counted as sent to, before or after the object was evicted, while their client never answers', async () => {
    const tenant = await tenantWithOneSocket();
    const silent = await connectSocket(tenant, { id: 'silent', tags: ['room'] }, { neverAnswersClose: true });
    expect((await api('DELETE', `${tenant.base}/v1/sockets/silent`, { token: tenant.token })).status).toBe(200);
    expect((await silent.closed()).code).toBe(4001);
    expect((await push(tenant, 'before', { sockets: ['*'] })).body.sent).toBe(0);
    await evictDurableObject(hubStub(tenant.name));
    expect((await push(tenant, 'after', { sockets: ['*'], tags: ['room'] })).body.sent).toBe(0);
    expect((await push(tenant, 'again', { sockets: ['silent'] })).body.sent).toBe(0);
  });

  it('are not counted as sent to when they speak mws.v2, before or after the object was evicted', async () => {
    const tenant = await tenantWithOneSocket();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'silent', tags: ['room'] } });
    const silent = await connectV2(reserved.body.uri, undefined, { neverAnswersClose: true });
    await silent.hello();
    expect((await push(tenant, 'while open', { sockets: ['*'] })).body.sent).toBe(1);
    expect((await api('DELETE', `${tenant.base}/v1/sockets/silent`, { token: tenant.token })).status).toBe(200);
    expect((await silent.closed()).code).toBe(4001);
    expect((await push(tenant, 'before', { sockets: ['*'] })).body.sent).toBe(0);
    await evictDurableObject(hubStub(tenant.name));
    expect((await push(tenant, 'after', { sockets: ['*'], tags: ['room'] })).body.sent).toBe(0);
  });

  it('still refuse the next socket past maxSockets while the open one stays', async () => {
    const tenant = await tenantWithOneSocket();
    await connectSocket(tenant, { id: 'first' });
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const res = await exports.default.fetch(reserved.body.uri.replace(/^wss/, 'https'), { headers: { upgrade: 'websocket' } });
    expect(res.status).toBe(503);
  });

  it('keep the keepalive sweep running until the client answers, then let it stop', async () => {
    const tenant = await tenantWithOneSocket();
    const stub = hubStub(tenant.name);
    const silent = await connectSocket(tenant, { id: 'silent' }, { neverAnswersClose: true });
    await api('DELETE', `${tenant.base}/v1/sockets/silent`, { token: tenant.token });
    await silent.closed();
    await runInDurableObject(stub, (_, state) => state.storage.sql.exec('DELETE FROM reservations'));
    const alarmAt = () => runInDurableObject(stub, (_, state) => state.storage.getAlarm());

    await runDurableObjectAlarm(stub);
    expect(await alarmAt()).not.toBeNull();

    silent.ws.close(1000);
    await expect.poll(() => runInDurableObject(stub, (_, state) => state.getWebSockets().length)).toBe(0);
    await runDurableObjectAlarm(stub);
    expect(await alarmAt()).toBeNull();
  });
});
