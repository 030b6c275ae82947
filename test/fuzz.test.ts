import fc from 'fast-check';
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, type TestTenant } from './helpers';

const TIMEOUT_MS = 5000;

/** One request with a deadline, so a hang fails the property instead of the suite. */
async function send(method: string, url: string, headers: Record<string, string>, body: string | undefined) {
  const res = await Promise.race([
    exports.default.fetch(url, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hang: ${method} ${url}`)), TIMEOUT_MS)),
  ]);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function expectDocumentedShape(status: number, text: string, method: string, contentType: string | null): void {
  expect(status, text).toBeLessThan(500);
  if (method === 'HEAD' || status === 204 || status === 101) return;
  // The console's static files are the only non-JSON answers, and only on success or redirect.
  if (status < 400 && !contentType?.includes('application/json')) return;
  expect(contentType).toContain('application/json');
  const body = JSON.parse(text);
  if (status === 422) {
    expect(Array.isArray(body.errors) && body.errors.length > 0).toBe(true);
    for (const e of body.errors) {
      expect(typeof e.reason).toBe('string');
      expect(typeof e.message).toBe('string');
      expect(e.property === null || typeof e.property === 'string').toBe(true);
    }
  } else if (status >= 400) {
    expect(typeof body.error?.reason).toBe('string');
    expect(typeof body.error?.message).toBe('string');
  }
}

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
const paths = fc.oneof(
  fc.constantFrom('/', '/v1/messages', '/v1/websocket_uri', '/v1/sockets', '/v1/sockets/x', '/v1/configuration', '/v1/signing-keys', '/v1/signing-keys/k', '/admin/tenants', '/console'),
  fc.constantFrom('/v1/webhooks', '/v1/webhooks/whk_x', '/v1/webhooks/whk_x/secret', '/v1/webhooks/whk_x/deliveries?limit=3', '/v1/tags/room', '/v1/tags/%zz', '/v1/presence?tags=a,b', '/v1/presence?tags='),
  fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`),
  fc.array(fc.constantFrom('v1', 'gateways', 'sockets', 'messages', 'signing-keys', '..', '%2F', '%00', '%zz', '%', '*', 'admin', 'tenants', 'ż', ''), { maxLength: 6 }).map((parts) => `/${parts.join('/')}`),
);
const jsonish = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.constant('{"data": "Hello World!", \\\n "receivers": {"sockets": ["*"], tags: null} \\\n }'),
  fc.integer({ min: 1, max: 5000 }).map((n) => '['.repeat(n)),
  fc.record({ data: fc.anything(), receivers: fc.anything() }).map((v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x)) ?? 'null'),
  fc.record({ tags: fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { maxLength: 15 }), id: fc.oneof(fc.string({ maxLength: 200 }), fc.integer()) }).map((v) => JSON.stringify(v)),
);
const headerSets = fc.record(
  {
    authorization: fc.oneof(fc.constant('Bearer VALID'), fc.constant('Bearer ADMIN'), fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n\0]/g, '')), fc.constant('Bearer a.b.c')),
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
    origin: fc.constantFrom('https://evil.example', 'null', 'http://localhost:3000'),
  },
  { requiredKeys: [] },
);

describe('the API under random input', () => {
  it('never answers 500 or hangs, always uses the documented envelope, and loses or duplicates no accepted message', async () => {
    const name = `fz-${crypto.randomUUID().slice(0, 8)}`;
    const created = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, limits: { pushesPerSecond: 100000, connectsPerSecond: 100000 } } });
    const tenant: TestTenant = { name, token: created.body.securityToken, base: `https://${name}.example.com` };
    const socket = await connectSocket(tenant, { id: `witness-${crypto.randomUUID()}`, tags: ['witness'] });
    const accepted: string[] = [];

    const validPush = fc.record({ data: fc.string({ unit: 'grapheme', maxLength: 300 }), tags: fc.constantFrom(['witness'], ['other']) });

    await fc.assert(
      fc.asyncProperty(
        methods,
        paths,
        fc.constantFrom('tenant', 'gateway', 'apex', 'ip'),
        headerSets,
        jsonish,
        validPush,
        fc.boolean(),
        async (method, path, hostKind, headers, body, push, sendValidPush) => {
          const url =
            hostKind === 'tenant' ? `${tenant.base}${path}` : hostKind === 'gateway' ? `https://example.com/v1/gateways/${name}${path}` : hostKind === 'apex' ? `${ADMIN_BASE}${path}` : `http://127.0.0.1:8787${path}`;
          const realHeaders: Record<string, string> = { ...headers };
          if (realHeaders.authorization === 'Bearer VALID') realHeaders.authorization = `Bearer ${tenant.token}`;
          if (realHeaders.authorization === 'Bearer ADMIN') realHeaders.authorization = `Bearer ${ADMIN_TOKEN}`;
          // Never let the fuzzer delete the tenant or its witness socket: those would be legitimate, not bugs.
          if (method === 'DELETE' && (path.startsWith('/admin') || path.startsWith('/v1/sockets'))) return;
          const res = await send(method, url, realHeaders, body);
          expectDocumentedShape(res.status, res.text, method, res.headers.get('content-type'));
          expect(new TextEncoder().encode(res.text).length, 'no answer to a small request is large').toBeLessThanOrEqual(64 * 1024);

          if (sendValidPush) {
            const ok = await send('POST', `${tenant.base}/v1/messages`, { authorization: `Bearer ${tenant.token}` }, JSON.stringify({ data: push.data, receivers: { sockets: null, tags: push.tags } }));
            expect(ok.status, ok.text).toBe(201);
            const sent = JSON.parse(ok.text).sent as number;
            if (push.tags[0] === 'witness') {
              expect(sent).toBe(1);
              accepted.push(push.data);
            } else expect(sent).toBe(0);
          }
        },
      ),
      { numRuns: 1000, interruptAfterTimeLimit: 60_000 },
    );

    await expect.poll(() => socket.messages.length, { timeout: 5000 }).toBe(accepted.length);
    expect(socket.messages).toEqual(accepted);
  }, 120_000);
});
