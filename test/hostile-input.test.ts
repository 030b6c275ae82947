import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, newTenant, type TestTenant } from './helpers';

const MiB = 1024 * 1024;
const MAX_REPLY_BYTES = 64 * 1024;

/** A JSON body of just under 1 MiB: `{"<key>": [<item>, <item>, ...]}` nested under `path`. */
function hugeList(path: string[], item: string): string {
  const open = path.map((key) => `{"${key}":`).join('');
  const close = '}'.repeat(path.length);
  const room = MiB - open.length - close.length - 2;
  const count = Math.floor((room + 1) / (item.length + 1));
  return `${open}[${Array(count).fill(item).join(',')}]${close}`;
}

async function rawCall(method: string, url: string, body: string, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await exports.default.fetch(url, { method, headers, body });
  const text = await res.text();
  return { status: res.status, bytes: new TextEncoder().encode(text).length, body: JSON.parse(text) };
}

/** Every call that takes a body, with a 1 MiB body that lists one wrong item per element in its longest list. */
const hostileBodies = (tenant: TestTenant) => [
  ['POST /v1/sockets tags', 'POST', `${tenant.base}/v1/sockets`, hugeList(['tags'], '0')],
  ['POST /v1/messages receivers.sockets', 'POST', `${tenant.base}/v1/messages`, hugeList(['receivers', 'sockets'], '0')],
  ['POST /v1/messages receivers.tags', 'POST', `${tenant.base}/v1/messages`, hugeList(['receivers', 'tags'], '""')],
  ['PUT /v1/configuration jwt.policy.read', 'PUT', `${tenant.base}/v1/configuration`, hugeList(['jwt', 'policy', 'read'], '0')],
  ['PUT /v1/configuration jwt.jwks.keys', 'PUT', `${tenant.base}/v1/configuration`, hugeList(['jwt', 'jwks', 'keys'], '0')],
] as const;

describe('bodies from strangers', () => {
  it.each(['POST /v1/sockets tags', 'POST /v1/messages receivers.sockets', 'PUT /v1/configuration jwt.policy.read'])(
    'answers %s on a tenant that does not exist with a small 404, not a list of what is wrong with the body',
    async (which) => {
      const ghost: TestTenant = { name: 'ghost', token: 'mws_nope', base: `https://no-${crypto.randomUUID().slice(0, 8)}.example.com` };
      const [, method, url, body] = hostileBodies(ghost).find(([name]) => name === which)!;
      const res = await rawCall(method, url, body);
      expect(res.status).toBe(404);
      expect(res.body.error.reason).toBe('tenant_not_found');
      expect(res.bytes).toBeLessThan(1024);
    },
  );

  it('answers a wrong token with 401 before saying anything about the body', async () => {
    const tenant = await newTenant();
    for (const [, method, url, body] of hostileBodies(tenant)) {
      const res = await rawCall(method, url, body, 'mws_wrong');
      expect(res.status).toBe(401);
      expect(res.body.error.reason).toBe('unauthorized');
    }
    const notJson = await rawCall('POST', `${tenant.base}/v1/messages`, '{not json', 'mws_wrong');
    expect(notJson.status).toBe(401);
    const tooBig = await api('POST', `${tenant.base}/v1/messages`, { token: 'mws_wrong', rawBody: 'x'.repeat(2 * MiB) });
    expect(tooBig.status).toBe(401);
  });

  it('answers a missing token with 401, not a 422, on a tenant that needs one', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/sockets`, { body: { tags: [1] } });
    expect(res.status).toBe(401);
  });

  it('still validates the body of a public push on a tenant in "none" mode', async () => {
    const tenant = await newTenant({ accessControl: 'none' });
    const res = await api('POST', `${tenant.base}/v1/messages`, { body: { data: 1, receivers: { sockets: ['*'] } } });
    expect(res.status).toBe(422);
  });

  it('answers a bad socket id in the path with 401 to a stranger and 404 to the tenant', async () => {
    const tenant = await newTenant();
    expect((await api('GET', `${tenant.base}/v1/sockets/${'x'.repeat(300)}`, { token: 'mws_wrong' })).status).toBe(401);
    expect((await api('GET', `${tenant.base}/v1/sockets/${'x'.repeat(300)}`, { token: tenant.token })).status).toBe(404);
  });

  it('answers an admin call about a tenant that does not exist with 404 before validating its body', async () => {
    const res = await api('PUT', `${ADMIN_BASE}/admin/tenants/no-such-tenant/limits`, { token: ADMIN_TOKEN, body: { maxSockets: 'lots' } });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('tenant_not_found');
  });
});

describe('error replies stay small', () => {
  it.each(['POST /v1/sockets tags', 'POST /v1/messages receivers.sockets', 'POST /v1/messages receivers.tags', 'PUT /v1/configuration jwt.policy.read', 'PUT /v1/configuration jwt.jwks.keys'])(
    'answers a 1 MiB list in %s with one too_many error',
    async (which) => {
      const tenant = await newTenant();
      const [, method, url, body] = hostileBodies(tenant).find(([name]) => name === which)!;
      const res = await rawCall(method, url, body, tenant.token);
      expect(res.status).toBe(422);
      expect(res.body.errors.filter((e: { reason: string }) => e.reason === 'too_many')).toHaveLength(1);
      expect(res.bytes).toBeLessThan(MAX_REPLY_BYTES);
    },
  );

  it('lists the first 20 problems of a 422 and says how many more there were', async () => {
    const tenant = await newTenant();
    const sockets = Array.from({ length: 1000 }, () => 'not valid');
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body: { data: 'x', receivers: { sockets } } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toHaveLength(21);
    expect(res.body.errors[19]).toMatchObject({ reason: 'invalid_value', property: 'receivers.sockets[19]' });
    expect(res.body.errors[20]).toEqual({ reason: 'too_many_errors', property: null, message: expect.stringContaining('980 more') });
  });

  it('keeps every 422 to a body of at most 1 MiB under 64 KiB', async () => {
    const tenant = await newTenant();
    const bodies = [
      ...hostileBodies(tenant),
      ['100 tags, each wrong', 'POST', `${tenant.base}/v1/sockets`, JSON.stringify({ tags: Array(100).fill('é'.repeat(2000)) })],
      ['1000 socket ids, each wrong', 'POST', `${tenant.base}/v1/messages`, JSON.stringify({ data: 'x', receivers: { sockets: Array(1000).fill('é'.repeat(400)) } })],
      ['admin limits', 'PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/limits`, hugeList(['maxSockets'], '0')],
    ] as const;
    for (const [name, method, url, body] of bodies) {
      expect(body.length, name).toBeLessThanOrEqual(MiB);
      const res = await rawCall(method, url, body, url.startsWith(ADMIN_BASE) ? ADMIN_TOKEN : tenant.token);
      expect(res.status, name).toBe(422);
      expect(res.bytes, name).toBeLessThan(MAX_REPLY_BYTES);
    }
  });
});
