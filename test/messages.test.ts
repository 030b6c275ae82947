import { describe, expect, it } from 'vitest';
import { api, connectSocket, newTenant, push } from './helpers';

describe('POST /v1/messages routing', () => {
  it('delivers a broadcast to every connected socket and reports how many it reached', async () => {
    const tenant = await newTenant();
    const a = await connectSocket(tenant);
    const b = await connectSocket(tenant, { tags: ['players'] });
    const res = await push(tenant, 'Hello World!', { sockets: ['*'], tags: null });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      data: 'Hello World!',
      receivers: { sockets: ['*'], tags: null },
      sent: 2,
    });
    expect(await a.nextMessage()).toBe('Hello World!');
    expect(await b.nextMessage()).toBe('Hello World!');
  });

  it('delivers to one socket by id and to no other', async () => {
    const tenant = await newTenant();
    const target = await connectSocket(tenant, { id: 'user-1' });
    const other = await connectSocket(tenant, { id: 'user-2' });
    const res = await push(tenant, 'just you', { sockets: ['user-1'] });
    expect(res.body.sent).toBe(1);
    expect(await target.nextMessage()).toBe('just you');
    expect(await other.receivesWithin(200)).toBe(false);
  });

  it('delivers to every socket carrying a tag', async () => {
    const tenant = await newTenant();
    const red1 = await connectSocket(tenant, { tags: ['red'] });
    const red2 = await connectSocket(tenant, { tags: ['red', 'blue'] });
    const blue = await connectSocket(tenant, { tags: ['blue'] });
    const res = await push(tenant, 'reds', { tags: ['red'] });
    expect(res.body.sent).toBe(2);
    expect(await red1.nextMessage()).toBe('reds');
    expect(await red2.nextMessage()).toBe('reds');
    expect(await blue.receivesWithin(200)).toBe(false);
  });

  it('routes by the union of ids and tags and delivers once to a socket matched several times', async () => {
    const tenant = await newTenant();
    const both = await connectSocket(tenant, { id: 'both', tags: ['red', 'blue'] });
    const idOnly = await connectSocket(tenant, { id: 'id-only' });
    const untouched = await connectSocket(tenant, { id: 'untouched', tags: ['green'] });
    const res = await push(tenant, 'once', { sockets: ['both', 'id-only', 'both'], tags: ['red', 'blue'] });
    expect(res.body.sent).toBe(2);
    expect(await both.nextMessage()).toBe('once');
    expect(await idOnly.nextMessage()).toBe('once');
    expect(await both.receivesWithin(200)).toBe(false);
    expect(both.messages).toEqual(['once']);
    expect(await untouched.receivesWithin(50)).toBe(false);
  });

  it('treats a missing sockets or tags key as null', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant, { tags: ['t'] });
    const res = await api('POST', `${tenant.base}/v1/messages`, {
      token: tenant.token,
      body: { data: 'x', receivers: { tags: ['t'] } },
    });
    expect(res.status).toBe(201);
    expect(res.body.receivers).toEqual({ sockets: null, tags: ['t'] });
    expect(await s.nextMessage()).toBe('x');
  });

  it('accepts a push that reaches nobody and says sent 0', async () => {
    const tenant = await newTenant();
    const res = await push(tenant, 'void', { sockets: ['nobody'], tags: ['none'] });
    expect(res.status).toBe(201);
    expect(res.body.sent).toBe(0);
  });

  it('sends data byte for byte as one text frame, unicode and JSON-looking text included', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant);
    const payloads = ['{"a": [1, 2]}', 'zażółć 🚀 \u2028 line', '', '  spaced  \n'];
    for (const data of payloads) {
      expect((await push(tenant, data, { sockets: ['*'] })).status).toBe(201);
      expect(await s.nextMessage()).toBe(data);
    }
  });

  it('does not deliver a message to a socket of another tenant', async () => {
    const mine = await newTenant();
    const theirs = await newTenant();
    const theirSocket = await connectSocket(theirs, { id: 'same-id', tags: ['same-tag'] });
    const res = await push(mine, 'private', { sockets: ['*', 'same-id'], tags: ['same-tag'] });
    expect(res.body.sent).toBe(0);
    expect(await theirSocket.receivesWithin(200)).toBe(false);
  });

  it('gives every message its own id', async () => {
    const tenant = await newTenant();
    const first = await push(tenant, 'a', { sockets: ['*'] });
    const second = await push(tenant, 'b', { sockets: ['*'] });
    expect(first.body.id).not.toBe(second.body.id);
  });
});

describe('POST /v1/messages errors', () => {
  it('answers the product document\'s own curl example (invalid JSON) with a 422 that says where it broke', async () => {
    const tenant = await newTenant();
    const seedBody = `{"data": "Hello World!", \\
        "receivers": {"sockets": ["*"], tags: null} \\
        }`;
    const res = await api('POST', `${tenant.base}/v1/messages`, {
      token: tenant.token,
      rawBody: seedBody,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0]).toMatchObject({ reason: 'invalid_json', property: null });
    expect(res.body.errors[0].message).toMatch(/line 1, column \d+/);
  });

  it('accepts a JSON body sent as a form (curl -d) when it is valid JSON', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, {
      token: tenant.token,
      rawBody: '{"data": "Hello World!", "receivers": {"sockets": ["*"], "tags": null}}',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(201);
  });

  it.each([
    ['a body that is not an object', [1, 2], 'invalid_type', null],
    ['a missing data', { receivers: { sockets: ['*'] } }, 'required', 'data'],
    ['data that is not a string', { data: 42, receivers: { sockets: ['*'] } }, 'invalid_type', 'data'],
    ['a missing receivers', { data: 'x' }, 'required', 'receivers'],
    ['receivers that is an array', { data: 'x', receivers: ['*'] }, 'invalid_type', 'receivers'],
    ['sockets that is a string', { data: 'x', receivers: { sockets: '*' } }, 'invalid_type', 'receivers.sockets'],
    ['tags with a number', { data: 'x', receivers: { tags: ['ok', 7] } }, 'invalid_type', 'receivers.tags[1]'],
    ['an empty tag', { data: 'x', receivers: { tags: [''] } }, 'invalid_value', 'receivers.tags[0]'],
    ['a socket id with a space', { data: 'x', receivers: { sockets: ['a b'] } }, 'invalid_value', 'receivers.sockets[0]'],
    ['a tag over 252 bytes', { data: 'x', receivers: { tags: ['é'.repeat(127)] } }, 'too_long', 'receivers.tags[0]'],
    ['more than 1000 socket ids', { data: 'x', receivers: { sockets: Array.from({ length: 1001 }, (_, i) => `s${i}`) } }, 'too_many', 'receivers.sockets'],
    ['more than 100 tags', { data: 'x', receivers: { tags: Array.from({ length: 101 }, (_, i) => `t${i}`) } }, 'too_many', 'receivers.tags'],
  ])('answers %s with a 422 naming the property', async (_, body, reason, property) => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body });
    expect(res.status).toBe(422);
    expect(res.body.errors).toContainEqual({ reason, property, message: expect.any(String) });
  });

  it('lists every wrong field at once', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body: { data: 1, receivers: 'all' } });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { property: string }) => e.property)).toEqual(['data', 'receivers']);
  });

  it('answers an empty body with a 422', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: '' });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].reason).toBe('invalid_json');
  });

  it('answers a body over 1 MiB with a 413 and delivers nothing', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant);
    const res = await api('POST', `${tenant.base}/v1/messages`, {
      token: tenant.token,
      body: { data: 'x'.repeat(1024 * 1024), receivers: { sockets: ['*'] } },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.reason).toBe('payload_too_large');
    expect(await s.receivesWithin(200)).toBe(false);
  });

  it('answers a body that is not UTF-8 with a 422', async () => {
    const tenant = await newTenant();
    const { exports } = await import('cloudflare:workers');
    const res = await exports.default.fetch(`${tenant.base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.token}` },
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as any).errors[0].reason).toBe('invalid_encoding');
  });

  it('answers deeply nested JSON with a 422, not a 500', async () => {
    const tenant = await newTenant();
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: deep });
    expect(res.status).toBe(422);
  });
});
