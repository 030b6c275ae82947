import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, connect, connectSocket, hubStub, newTenant } from './helpers';

describe('GET /v1/websocket_uri', () => {
  it('returns a ws uri on the tenant host with an expiry five minutes out and no tags', async () => {
    const tenant = await newTenant();
    const before = Date.now();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'tags', 'uri']);
    expect(res.body.uri).toMatch(new RegExp(`^wss://${tenant.name}\\.example\\.com/\\?token=[A-Za-z0-9_-]+$`));
    expect(res.body.tags).toEqual([]);
    const ttl = Date.parse(res.body.expiresAt) - before;
    expect(ttl).toBeGreaterThan(299_000);
    expect(ttl).toBeLessThanOrEqual(301_000);
  });

  it('returns a ws:// uri when the request came over plain http', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `http://${tenant.name}.localhost:8787/v1/websocket_uri`, { token: tenant.token });
    expect(res.body.uri).toMatch(new RegExp(`^ws://${tenant.name}\\.localhost:8787/\\?token=`));
  });

  it('gives a uri that connects an untagged socket which then receives pushes', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token });
    const socket = await connect(res.body.uri);
    const listed = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(listed.body.results).toEqual([{ id: expect.any(String), connectedAt: expect.any(String), tags: [] }]);
    await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body: { data: 'hi', receivers: { sockets: ['*'] } } });
    expect(await socket.nextMessage()).toBe('hi');
  });
});

describe('POST /v1/sockets', () => {
  it('reserves a socket id with deduplicated tags and returns its uri', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { tags: ['players', 'players', 'eu'] } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), uri: expect.stringMatching(/^wss:\/\//), expiresAt: expect.any(String), tags: ['players', 'eu'] });
  });

  it('accepts an empty body as a socket without tags', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(res.status).toBe(201);
    expect(res.body.tags).toEqual([]);
  });

  it('lets the backend choose the socket id', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'user:42', tags: [] } });
    expect(res.body.id).toBe('user:42');
  });

  it('refuses more than 9 distinct tags, because the platform allows 10 per socket including its id', async () => {
    const tenant = await newTenant();
    const tags = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { tags } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toMatchObject({ reason: 'too_many', property: 'tags' });
    const ok = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { tags: [...tags.slice(0, 9), 't0', 't1'] } });
    expect(ok.status).toBe(201);
    expect(ok.body.tags).toHaveLength(9);
  });

  it.each([
    ['tags that is not an array', { tags: 'players' }, 'tags'],
    ['an id that is "*"', { id: '*' }, 'id'],
    ['an id over 128 characters', { id: 'x'.repeat(129) }, 'id'],
    ['an id that is a number', { id: 7 }, 'id'],
  ])('answers %s with a 422', async (_, body, property) => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].property).toBe(property);
  });
});

describe('connect tokens', () => {
  it('works once: a second connection with the same uri is closed with 4401', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const first = await connect(res.body.uri);
    const second = await connect(res.body.uri);
    expect(await second.closed()).toMatchObject({ code: 4401, reason: expect.stringContaining('used') });
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
  });

  /** Waits until no stored reservation is unspent, restarts the object and checks that `uri` is refused. */
  const expectSpentAcrossRestart = async (tenantName: string, uri: string) => {
    const unspent = () => runInDurableObject(hubStub(tenantName), (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM reservations WHERE spent = 0').one().n);
    await expect.poll(unspent, { timeout: 2000, interval: 5 }).toBe(0);
    await evictDurableObject(hubStub(tenantName));
    expect((await (await connect(uri)).closed()).code).toBe(4401);
  };

  it('stays spent after the object restarts: its stored reservation is marked spent in a batch just after the connect', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const first = await connect(res.body.uri);
    await expectSpentAcrossRestart(tenant.name, res.body.uri);
    first.ws.close();
  });

  it('made before reservations recorded spending, connects once after an upgrade, and never again', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    // The table as earlier versions made it: no `spent` column.
    await runInDurableObject(hubStub(tenant.name), (_, state) => {
      state.storage.sql.exec('CREATE TABLE old_reservations AS SELECT token_hash, socket_id, tags, expires_at, user FROM reservations');
      state.storage.sql.exec('DROP TABLE reservations');
      state.storage.sql.exec('ALTER TABLE old_reservations RENAME TO reservations');
    });
    await evictDurableObject(hubStub(tenant.name));
    const first = await connect(res.body.uri);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    await expectSpentAcrossRestart(tenant.name, res.body.uri);
    first.ws.close();
  });

  it('is refused with 4401 after it expired', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    await runInDurableObject(hubStub(tenant.name), (_, state) => {
      state.storage.sql.exec('UPDATE reservations SET expires_at = ?', Date.now() - 1);
    });
    // Storage is the truth once the object restarts; evicting drops what it remembered in memory.
    await evictDurableObject(hubStub(tenant.name));
    const socket = await connect(res.body.uri);
    expect((await socket.closed()).code).toBe(4401);
  });

  it('is refused with 4401 when forged or missing', async () => {
    const tenant = await newTenant();
    expect((await (await connect(`${tenant.base}/?token=forged`)).closed()).code).toBe(4401);
    expect((await (await connect(`${tenant.base}/`)).closed()).code).toBe(4401);
  });

  it('never connects to another tenant', async () => {
    const mine = await newTenant();
    const theirs = await newTenant();
    const res = await api('POST', `${mine.base}/v1/sockets`, { token: mine.token, body: {} });
    const stolen = res.body.uri.replace(mine.name, theirs.name);
    expect((await (await connect(stolen)).closed()).code).toBe(4401);
    const list = await api('GET', `${theirs.base}/v1/sockets`, { token: theirs.token });
    expect(list.body.results).toEqual([]);
  });

  it('is refused with 4404 on a tenant that does not exist', async () => {
    expect((await (await connect('https://no-such-tenant.example.com/?token=x')).closed()).code).toBe(4404);
  });

  it('answers a plain HTTP GET of a connect uri with 426', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/?token=abc`);
    expect(res.status).toBe(426);
    expect(res.body.error.reason).toBe('upgrade_required');
  });
});

describe('GET /v1/sockets and GET /v1/sockets/{id}', () => {
  it('lists connected sockets only, with id, connectedAt and tags', async () => {
    const tenant = await newTenant();
    await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'reserved-only' } });
    const before = Date.now();
    await connectSocket(tenant, { id: 'alice', tags: ['red'] });
    const res = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([{ id: 'alice', connectedAt: expect.any(String), tags: ['red'] }]);
    expect(Date.parse(res.body.results[0].connectedAt)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('gets one socket by id, or 404 socket_not_found', async () => {
    const tenant = await newTenant();
    await connectSocket(tenant, { id: 'bob', tags: ['x'] });
    const found = await api('GET', `${tenant.base}/v1/sockets/bob`, { token: tenant.token });
    expect(found.body).toMatchObject({ id: 'bob', tags: ['x'] });
    const missing = await api('GET', `${tenant.base}/v1/sockets/carol`, { token: tenant.token });
    expect(missing.status).toBe(404);
    expect(missing.body.error.reason).toBe('socket_not_found');
  });

  it('drops a socket from the list once its client closes it', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant, { id: 'leaver' });
    s.ws.close(1000, 'bye');
    await s.closed();
    await expect.poll(async () => (await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).body.results).toEqual([]);
  });

  it('closes the older connection with 4003 when a socket id connects again', async () => {
    const tenant = await newTenant();
    const old = await connectSocket(tenant, { id: 'phone' });
    const fresh = await connectSocket(tenant, { id: 'phone' });
    expect((await old.closed()).code).toBe(4003);
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body: { data: 'new', receivers: { sockets: ['phone'] } } });
    expect(res.body.sent).toBe(1);
    expect(await fresh.nextMessage()).toBe('new');
  });
});

describe('DELETE /v1/sockets/{id}', () => {
  it('closes the live socket with 4001, answers {} and removes it from the list', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant, { id: 'kick-me' });
    const res = await api('DELETE', `${tenant.base}/v1/sockets/kick-me`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect(await s.closed()).toMatchObject({ code: 4001, reason: 'removed by the backend' });
    const list = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(list.body.results).toEqual([]);
  });

  it('answers 404 for a socket that is not connected', async () => {
    const tenant = await newTenant();
    const res = await api('DELETE', `${tenant.base}/v1/sockets/ghost`, { token: tenant.token });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('socket_not_found');
  });
});
