import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MwsBackend, MwsError, parseRetryAfter, type FetchLike } from '../src/server.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  idempotencyKey?: string | undefined;
  body: string;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

let server: Server;
let origin: string;
const seen: Seen[] = [];
/** The answer the fake API gives, unless `queued` holds answers for the next requests. */
let answer: Answer = { status: 200, body: {} };
const queued: Answer[] = [];

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const key = req.headers['idempotency-key'];
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], ...(typeof key === 'string' ? { idempotencyKey: key } : {}), body });
    const next = queued.shift() ?? answer;
    res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
    res.end(next.body === undefined ? '' : JSON.stringify(next.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  seen.length = 0;
  queued.length = 0;
});

const backend = () => new MwsBackend({ baseUrl: `${origin}/v1/gateways/foo/`, securityToken: 'mws_secret' });

describe('MwsBackend', () => {
  it('pushes with POST /v1/messages, the bearer token and the exact JSON body, and returns the 201 answer', async () => {
    const created = { id: 'm1', data: 'hi', receivers: { sockets: ['*'], tags: null }, sent: 2 };
    answer = { status: 201, body: created };
    const result = await backend().push('hi', { sockets: ['*'] });
    expect(result).toEqual(created);
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/gateways/foo/v1/messages',
        authorization: 'Bearer mws_secret',
        contentType: 'application/json',
        idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/),
        body: JSON.stringify({ data: 'hi', receivers: { sockets: ['*'], tags: null } }),
      },
    ]);
  });

  it('pushes bytes as dataBase64', async () => {
    answer = { status: 201, body: { id: 'b', dataBase64: 'AAH/', receivers: { sockets: ['*'], tags: null }, sent: 1 } };
    expect((await backend().push(new Uint8Array([0, 1, 255]), { sockets: ['*'] })).dataBase64).toBe('AAH/');
    expect(seen[0]?.body).toBe(JSON.stringify({ dataBase64: 'AAH/', receivers: { sockets: ['*'], tags: null } }));
  });

  it('sends a fresh Idempotency-Key per push, the one given, or none when told', async () => {
    answer = { status: 201, body: { id: 'm', data: 'hi', receivers: { sockets: ['*'], tags: null }, sent: 1 } };
    await backend().push('hi', { sockets: ['*'] });
    await backend().push('hi', { sockets: ['*'] });
    await backend().push('hi', { sockets: ['*'] }, { idempotencyKey: 'order-42' });
    await backend().push('hi', { sockets: ['*'] }, { idempotencyKey: false });
    const keys = seen.map((s) => s.idempotencyKey);
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys.slice(2)).toEqual(['order-42', undefined]);
  });

  it('creates a socket with POST /v1/sockets and returns its uri', async () => {
    const reserved = { id: 'a', uri: 'ws://x/?token=t', expiresAt: '2030-01-01T00:00:00.000Z', tags: ['news'] };
    answer = { status: 201, body: reserved };
    expect(await backend().createSocket({ tags: ['news'], id: 'a' })).toEqual(reserved);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/gateways/foo/v1/sockets', body: '{"id":"a","tags":["news"]}' });
  });

  it('sends the full socket request, id null and no tags, when createSocket gets none', async () => {
    answer = { status: 201, body: { id: 'x', uri: 'ws://x/?token=t', expiresAt: 'e', tags: [] } };
    await backend().createSocket();
    expect(seen[0]?.body).toBe('{"id":null,"tags":[]}');
  });

  it('asks GET /v1/websocket_uri and GET /v1/sockets without a body', async () => {
    answer = { status: 200, body: { results: [] } };
    expect(await backend().listSockets()).toEqual({ results: [] });
    answer = { status: 200, body: { uri: 'ws://x', expiresAt: 'e', tags: [] } };
    expect(await backend().websocketUri()).toEqual({ uri: 'ws://x', expiresAt: 'e', tags: [] });
    expect(seen.map((s) => [s.method, s.url, s.body, s.contentType])).toEqual([
      ['GET', '/v1/gateways/foo/v1/sockets', '', undefined],
      ['GET', '/v1/gateways/foo/v1/websocket_uri', '', undefined],
    ]);
  });

  it('encodes the socket id in the path of getSocket and deleteSocket', async () => {
    answer = { status: 200, body: { id: 'a b/c', connectedAt: 'x', tags: [] } };
    expect((await backend().getSocket('a b/c')).id).toBe('a b/c');
    answer = { status: 200, body: {} };
    await backend().deleteSocket('a b/c');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /v1/gateways/foo/v1/sockets/a%20b%2Fc',
      'DELETE /v1/gateways/foo/v1/sockets/a%20b%2Fc',
    ]);
  });

  it('throws an MwsError with status, reason and message for an error answer', async () => {
    answer = { status: 401, body: { error: { reason: 'unauthorized', message: 'Invalid security token for this tenant.' } } };
    const error = await backend().listSockets().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MwsError);
    expect(error).toMatchObject({ status: 401, reason: 'unauthorized', message: 'Invalid security token for this tenant.', errors: [] });
  });

  it('throws an MwsError carrying the field errors of a 422 answer', async () => {
    const errors = [{ reason: 'required', property: 'data', message: 'data is required.' }];
    answer = { status: 422, body: { errors } };
    const error = await backend().push('', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 422, reason: 'unprocessable_entity', message: 'data is required.', errors });
  });

  it('throws an MwsError for a non-JSON error answer', async () => {
    answer = { status: 502, body: undefined };
    const error = await backend().listSockets().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, reason: 'http_error' });
  });

  it('refuses a baseUrl that is not an http(s) URL in one clear line', () => {
    expect(() => new MwsBackend({ baseUrl: undefined as unknown as string })).toThrow(
      new TypeError('MwsBackend: baseUrl must be an http(s) URL such as "http://127.0.0.1:8787/v1/gateways/<tenant>", not undefined.'),
    );
    expect(() => new MwsBackend({ baseUrl: 'foo.localhost:8787' })).toThrow(TypeError);
  });

  it('uses the fetch it is given', async () => {
    const calls: string[] = [];
    const client = new MwsBackend({
      baseUrl: 'https://foo.example.com',
      securityToken: 't',
      fetch: async (url, init) => {
        calls.push(`${init.method} ${url} ${init.headers.authorization}`);
        return new Response(JSON.stringify({ results: [] }), { status: 200 });
      },
    });
    await client.listSockets();
    expect(calls).toEqual(['GET https://foo.example.com/v1/sockets Bearer t']);
  });
  it('passes limit and cursor of listSockets in the query string and returns the page with its cursor', async () => {
    answer = { status: 200, body: { results: [{ id: 'a', connectedAt: 'x', tags: [] }], cursor: 'c2' } };
    expect(await backend().listSockets({ limit: 1, cursor: 'WzAsImEiXQ' })).toEqual({ results: [{ id: 'a', connectedAt: 'x', tags: [] }], cursor: 'c2' });
    await backend().listSockets({ cursor: null });
    expect(seen.map((s) => s.url)).toEqual(['/v1/gateways/foo/v1/sockets?limit=1&cursor=WzAsImEiXQ', '/v1/gateways/foo/v1/sockets']);
  });

  it('walks every page with sockets(), so a tenant with more than 1,000 sockets is seen whole', async () => {
    const all = Array.from({ length: 2500 }, (_, i) => ({ id: `s${String(i).padStart(4, '0')}`, connectedAt: 'x', tags: [] }));
    const pager = new MwsBackend({
      baseUrl: 'https://foo.example.com',
      securityToken: 't',
      // Pages like the service: `limit` (default 1000) after the cursor, which names the last id shown.
      fetch: async (url) => {
        const params = new URL(url).searchParams;
        const limit = Number(params.get('limit') ?? 1000);
        const after = params.get('cursor');
        const start = after === null ? 0 : all.findIndex((s) => s.id === after) + 1;
        const results = all.slice(start, start + limit);
        const cursor = start + limit < all.length ? (results.at(-1)?.id ?? null) : null;
        return new Response(JSON.stringify({ results, cursor }), { status: 200 });
      },
    });
    const seenIds: string[] = [];
    for await (const socket of pager.sockets()) seenIds.push(socket.id);
    expect(seenIds).toEqual(all.map((s) => s.id));
    const small: string[] = [];
    for await (const socket of pager.sockets({ pageSize: 999 })) small.push(socket.id);
    expect(small).toHaveLength(2500);
  });

  it('sends pageSize as the limit of every page sockets() asks for, and the cursor of the page before', async () => {
    queued.push(
      { status: 200, body: { results: [{ id: 'a', connectedAt: 'x', tags: [] }], cursor: 'next' } },
      { status: 200, body: { results: [{ id: 'b', connectedAt: 'x', tags: [] }], cursor: null } },
    );
    const ids: string[] = [];
    for await (const socket of backend().sockets({ pageSize: 1 })) ids.push(socket.id);
    expect(ids).toEqual(['a', 'b']);
    expect(seen.map((s) => s.url)).toEqual(['/v1/gateways/foo/v1/sockets?limit=1', '/v1/gateways/foo/v1/sockets?limit=1&cursor=next']);
  });

  it('reads and writes the configuration with its jwt settings', async () => {
    const view = {
      accessControl: 'jwt',
      jwt: { secret: 'configured', policy: { read: ['*'], write: [] }, groupsClaim: 'groups', subjectTag: true },
      limits: { pushesPerSecond: 1000, connectsPerSecond: 500, maxSockets: 32000 },
      shards: 1,
    };
    answer = { status: 200, body: view };
    expect(await backend().getConfiguration()).toEqual(view);
    const update = { accessControl: 'jwt' as const, jwt: { secret: 'x'.repeat(32), policy: { read: ['*'], write: [] } } };
    expect(await backend().setConfiguration(update)).toEqual(view);
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', '/v1/gateways/foo/v1/configuration', ''],
      ['PUT', '/v1/gateways/foo/v1/configuration', JSON.stringify(update)],
    ]);
  });

  it('creates, lists and deletes signing keys', async () => {
    const created = { kid: 'key_1', secret: 's', algorithm: 'HS256', createdAt: '2030-01-01T00:00:00.000Z' };
    answer = { status: 201, body: created };
    expect(await backend().createSigningKey()).toEqual(created);
    answer = { status: 200, body: { results: [{ kid: 'key_1', createdAt: created.createdAt }] } };
    expect(await backend().listSigningKeys()).toEqual({ results: [{ kid: 'key_1', createdAt: created.createdAt }] });
    answer = { status: 200, body: {} };
    await backend().deleteSigningKey('key/1');
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual([
      'POST /v1/gateways/foo/v1/signing-keys ',
      'GET /v1/gateways/foo/v1/signing-keys ',
      'DELETE /v1/gateways/foo/v1/signing-keys/key%2F1 ',
    ]);
  });

  it('sends no Authorization header without a security token (a tenant in none mode)', async () => {
    answer = { status: 201, body: { id: 'm', data: 'hi', receivers: { sockets: ['*'], tags: null }, sent: 0 } };
    await new MwsBackend({ baseUrl: `${origin}/v1/gateways/foo` }).push('hi', { sockets: ['*'] });
    expect(seen[0]?.authorization).toBeUndefined();
  });
});

describe('MwsBackend on 429 and 503', () => {
  const rateLimited = (retryAfter: string): Answer => ({
    status: 429,
    body: { error: { reason: 'rate_limited', message: 'Too many pushes: this tenant allows 1 per second.' } },
    headers: { 'retry-after': retryAfter },
  });
  const unavailable = (reason: string): Answer => ({
    status: 503,
    body: { error: { reason, message: 'The tenant is briefly unavailable; retry shortly.' } },
    headers: { 'retry-after': '0' },
  });
  const pushed = { id: 'm', data: 'hi', receivers: { sockets: ['*'], tags: null }, sent: 1 };

  it('exposes Retry-After as retryAfterSeconds when retrying is off', async () => {
    queued.push(rateLimited('3'));
    const error = await new MwsBackend({ baseUrl: origin, securityToken: 't', retry: false }).push('hi', { sockets: ['*'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MwsError);
    expect(error).toMatchObject({ status: 429, reason: 'rate_limited', retryAfterSeconds: 3 });
    expect(seen).toHaveLength(1);
  });

  it('waits out Retry-After and retries a rate-limited push', async () => {
    queued.push(rateLimited('1'));
    answer = { status: 201, body: pushed };
    const started = Date.now();
    expect(await backend().push('hi', { sockets: ['*'] })).toEqual(pushed);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    const body = JSON.stringify({ data: 'hi', receivers: { sockets: ['*'], tags: null } });
    expect(seen.map((s) => `${s.method} ${s.body}`)).toEqual([`POST ${body}`, `POST ${body}`]);
  });

  it('gives up after maxRetries retries and throws the last answer', async () => {
    queued.push(rateLimited('0'), rateLimited('0'), rateLimited('0'), rateLimited('0'));
    const error = await backend().push('hi', { sockets: ['*'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, retryAfterSeconds: 0 });
    expect(seen).toHaveLength(3); // the first attempt and the default 2 retries
  });

  it('throws at once when Retry-After is longer than maxDelayMs', async () => {
    queued.push(rateLimited('60'));
    const error = await backend().push('hi', { sockets: ['*'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, retryAfterSeconds: 60 });
    expect(seen).toHaveLength(1);
  });

  it('retries 503 service_unavailable on a GET, and on a push only with its Idempotency-Key', async () => {
    queued.push(unavailable('service_unavailable'));
    answer = { status: 200, body: { results: [], cursor: null } };
    expect(await backend().listSockets()).toEqual({ results: [], cursor: null });
    expect(seen).toHaveLength(2);
    seen.length = 0;
    queued.push(unavailable('service_unavailable'));
    answer = { status: 201, body: pushed };
    expect(await backend().push('hi', { sockets: ['*'] })).toEqual(pushed);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.idempotencyKey).toBe(seen[0]?.idempotencyKey);
    seen.length = 0;
    queued.push(unavailable('service_unavailable'));
    await expect(backend().push('hi', { sockets: ['*'] }, { idempotencyKey: false })).rejects.toMatchObject({ status: 503, reason: 'service_unavailable' });
    expect(seen).toHaveLength(1);
  });

  it('retries a keyed push after partial_delivery, a 500 and a 409 in flight, always with the same key', async () => {
    queued.push(unavailable('partial_delivery'), { status: 500, body: { error: { reason: 'internal_error', message: 'x' } } });
    answer = { status: 201, body: pushed };
    const backend3 = new MwsBackend({ baseUrl: origin, securityToken: 't', retry: { maxRetries: 3 } });
    queued.push({ status: 409, body: { error: { reason: 'idempotency_key_in_flight', message: 'x' } }, headers: { 'retry-after': '0' } });
    expect(await backend3.push('hi', { sockets: ['*'] })).toEqual(pushed);
    expect(new Set(seen.map((s) => s.idempotencyKey)).size).toBe(1);
    expect(seen).toHaveLength(4);
  });

  it('retries a keyed push that timed out, with the same key', async () => {
    let calls = 0;
    const slowFirst: FetchLike = async (url, init) => {
      calls++;
      if (calls === 1) await new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
      return fetch(url, init);
    };
    answer = { status: 201, body: pushed };
    const timing = new MwsBackend({ baseUrl: origin, securityToken: 't', timeoutMs: 100, fetch: slowFirst });
    expect(await timing.push('hi', { sockets: ['*'] })).toEqual(pushed);
    expect(calls).toBe(2);
  });

  it('never retries 503 partial_delivery, because a retry would deliver twice', async () => {
    queued.push({ ...unavailable('partial_delivery'), headers: { 'retry-after': '1' } });
    await expect(backend().listSockets()).rejects.toMatchObject({ status: 503, reason: 'partial_delivery', retryAfterSeconds: 1 });
    expect(seen).toHaveLength(1);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['7', 7],
    [' 0 ', 0],
    ['Tue, 01 Jan 2030 00:00:10 GMT', 10],
    ['Mon, 01 Jan 2029 00:00:00 GMT', 0],
    ['soon', null],
    [null, null],
  ])('reads %j as %j seconds', (value, seconds) => {
    expect(parseRetryAfter(value, Date.parse('2030-01-01T00:00:00Z'))).toBe(seconds);
  });
});

describe('MwsBackend: webhooks and presence', () => {
  it('manages webhooks with the documented methods, paths and bodies', async () => {
    answer = { status: 201, body: { id: 'whk_1', secret: 'whsec_x' } };
    const mws = backend();
    expect(await mws.createWebhook({ url: 'https://app.example/hooks', events: ['socket.connected'] })).toEqual({ id: 'whk_1', secret: 'whsec_x' });
    answer = { status: 200, body: {} };
    await mws.listWebhooks();
    await mws.getWebhook('whk_1');
    await mws.updateWebhook('whk_1', { enabled: true });
    await mws.rotateWebhookSecret('whk_1', { previousSecretTtlSeconds: 60 });
    await mws.webhookDeliveries('whk_1', { limit: 5 });
    await mws.deleteWebhook('whk_1');
    expect(seen.map((s) => [s.method, s.url.replace('/v1/gateways/foo', ''), s.body])).toEqual([
      ['POST', '/v1/webhooks', '{"url":"https://app.example/hooks","events":["socket.connected"]}'],
      ['GET', '/v1/webhooks', ''],
      ['GET', '/v1/webhooks/whk_1', ''],
      ['PUT', '/v1/webhooks/whk_1', '{"enabled":true}'],
      ['POST', '/v1/webhooks/whk_1/secret', '{"previousSecretTtlSeconds":60}'],
      ['GET', '/v1/webhooks/whk_1/deliveries?limit=5', ''],
      ['DELETE', '/v1/webhooks/whk_1', ''],
    ]);
  });

  it('asks presence for one tag with paging, and for several tags in one call', async () => {
    answer = { status: 200, body: { tag: 'room 1', count: 2, results: [], cursor: null } };
    expect((await backend().tagPresence('room 1', { limit: 10, cursor: 'c1' })).count).toBe(2);
    answer = { status: 200, body: { tags: { a: 1, 'b/c': 0 } } };
    expect(await backend().presence(['a', 'b/c'])).toEqual({ tags: { a: 1, 'b/c': 0 } });
    expect(seen.map((s) => s.url.replace('/v1/gateways/foo', ''))).toEqual(['/v1/tags/room%201?limit=10&cursor=c1', '/v1/presence?tags=a,b%2Fc']);
    expect(() => backend().presence(['a,b'])).toThrow(/comma/);
  });
});
