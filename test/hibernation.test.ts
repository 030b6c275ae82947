import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, connectSocket, hubStub, newTenant, push } from './helpers';

describe('hibernation', () => {
  it('keeps sockets, ids and tags across the tenant object being evicted', async () => {
    const tenant = await newTenant();
    const alice = await connectSocket(tenant, { id: 'alice', tags: ['red', 'blue'] });
    const bob = await connectSocket(tenant, { id: 'bob', tags: ['green'] });

    await evictDurableObject(hubStub(tenant.name));

    const list = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(list.body.results.map((s: { id: string; tags: string[] }) => [s.id, s.tags]).sort()).toEqual([
      ['alice', ['red', 'blue']],
      ['bob', ['green']],
    ]);
    expect((await push(tenant, 'to blue', { tags: ['blue'] })).body.sent).toBe(1);
    expect(await alice.nextMessage()).toBe('to blue');
    expect((await push(tenant, 'to bob', { sockets: ['bob'] })).body.sent).toBe(1);
    expect(await bob.nextMessage()).toBe('to bob');
    expect(await alice.receivesWithin(100)).toBe(false);
  });

  it('keeps the tenant configuration and pending connect tokens across eviction', async () => {
    const tenant = await newTenant();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'later', tags: ['t'] } });
    await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    await evictDurableObject(hubStub(tenant.name));
    const { connect } = await import('./helpers');
    const socket = await connect(reserved.body.uri);
    expect((await push(tenant, 'after eviction', { tags: ['t'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('after eviction');
  });

  it('answers keepalive pings while the object is evicted', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    await evictDurableObject(hubStub(tenant.name));
    socket.ws.send('ping');
    expect(await socket.nextMessage()).toBe('pong');
  });
});

describe('waking the object', () => {
  it('does not wake an evicted object for keepalive pings', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    const stub = hubStub(tenant.name);
    // The keepalive sweep (every 0.3 s here) would wake it too; this test is about the pings alone.
    await runInDurableObject(stub, (_, state) => state.storage.deleteAlarm());
    await evictDurableObject(stub);
    for (let i = 0; i < 10; i++) socket.ws.send('ping');
    for (let i = 0; i < 10; i++) expect(await socket.nextMessage()).toBe('pong');
    // Eviction rejects when the object is not running: the pings left it asleep.
    await expect(evictDurableObject(stub)).rejects.toThrow();
  });

  it('answers a client close frame with the same code and unlists the socket at once', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { id: 'closer' });
    socket.ws.close(4321, 'client leaving');
    expect(await socket.closed()).toMatchObject({ code: 4321 });
    const list = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(list.body.results).toEqual([]);
  });
});
