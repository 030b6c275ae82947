import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, newTenant, push } from './helpers';
import { base64url } from 'jose';

const b64url = (value: unknown) => base64url.encode(JSON.stringify(value));

// An attacker's view: each test tries something a hostile client would, and checks it fails cleanly.

const encoder = new TextEncoder();

describe('tokens across tenants', () => {
  it('refuses a security token, a connect uri and a signing key of one tenant on another', async () => {
    const victim = await newTenant();
    const attacker = await newTenant();
    const victimSocket = await connectSocket(victim, { id: 'target', tags: ['t'] });

    for (const [method, path] of [['POST', '/v1/messages'], ['GET', '/v1/sockets'], ['DELETE', '/v1/sockets/target'], ['PUT', '/v1/configuration']] as const) {
      const res = await api(method, `${victim.base}${path}`, { token: attacker.token, body: method === 'GET' || method === 'DELETE' ? undefined : { data: 'x', receivers: { sockets: ['*'] }, accessControl: 'none' } });
      expect(res.status).toBe(401);
    }
    const uri = (await api('POST', `${attacker.base}/v1/sockets`, { token: attacker.token, body: { id: 'target' } })).body.uri as string;
    expect((await (await connect(uri.replace(attacker.name, victim.name))).closed()).code).toBe(4401);

    const key = (await api('POST', `${attacker.base}/v1/signing-keys`, { token: attacker.token })).body as { kid: string; secret: string };
    const forAttacker = await new SignJWT({ sid: 'target' }).setProtectedHeader({ alg: 'HS256', kid: key.kid }).setAudience(victim.name).setJti('j1').setExpirationTime('1m').sign(encoder.encode(key.secret));
    expect((await (await connect(`${victim.base}/?token=${forAttacker}`)).closed()).code).toBe(4401);

    expect(victimSocket.ws.readyState).toBe(WebSocket.OPEN);
    expect(await victimSocket.receivesWithin(100)).toBe(false);
  });

  it('keeps the admin API and the tenant API apart', async () => {
    const tenant = await newTenant();
    expect((await api('GET', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: tenant.token })).status).toBe(401);
    expect((await api('GET', `${tenant.base}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).status).toBe(404);
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: ADMIN_TOKEN })).status).toBe(401);
    expect((await api('GET', `${ADMIN_BASE}/v1/gateways/${tenant.name}/admin/tenants`, { token: ADMIN_TOKEN })).status).toBe(404);
  });
});

describe('connect tokens', () => {
  it('refuses replayed, expired, forged, truncated and empty tokens', async () => {
    const tenant = await newTenant();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: {} });
    const uri = reserved.body.uri as string;
    await connect(uri);
    const token = new URL(uri).searchParams.get('token') ?? '';
    const attempts = [uri, uri.replace(token, token.slice(0, -1)), uri.replace(token, `${token}A`), `${tenant.base}/?token=`, `${tenant.base}/?token=${'A'.repeat(10_000)}`];
    for (const attempt of attempts) expect((await (await connect(attempt)).closed()).code).toBe(4401);
  });

  it('refuses a hand-made unsigned (alg "none") connect JWT', async () => {
    const tenant = await newTenant();
    await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token });
    const none = `${b64url({ alg: 'none' })}.${b64url({ aud: tenant.name, jti: 'x', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    const closed = await (await connect(`${tenant.base}/?token=${none}`)).closed();
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain('unsupported_algorithm');
  });

  it('refuses a connect JWT that lacks jti or exp', async () => {
    const tenant = await newTenant();
    const key = (await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token })).body as { kid: string; secret: string };
    const noJti = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: key.kid }).setAudience(tenant.name).setExpirationTime('1m').sign(encoder.encode(key.secret));
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: key.kid }).setAudience(tenant.name).setJti('j').sign(encoder.encode(key.secret));
    for (const token of [noJti, noExp]) {
      const closed = await (await connect(`${tenant.base}/?token=${token}`)).closed();
      expect(closed.code).toBe(4401);
      expect(closed.reason).toContain('invalid_claims');
    }
  });
});

describe('end-user JWTs', () => {
  it('refuses alg none, a wrong key, a wrong audience and missing claims in jwt mode', async () => {
    const tenant = await newTenant();
    const secret = 'tenant-shared-secret-long-enough-for-hs256';
    await api('PUT', `${tenant.base}/v1/configuration`, {
      token: tenant.token,
      body: { accessControl: 'jwt', jwt: { secret, audience: 'app', policy: { read: ['user:alice'], write: ['user:alice'] } } },
    });
    const exp = Math.floor(Date.now() / 1000) + 300;
    const cases: Array<[string, number]> = [
      [`${b64url({ alg: 'none' })}.${b64url({ sub: 'alice', aud: 'app', exp })}.`, 401],
      [await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setAudience('app').setExpirationTime(exp).sign(encoder.encode('not-the-tenant-secret-but-long-enough')), 401],
      [await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setAudience('other').setExpirationTime(exp).sign(encoder.encode(secret)), 401],
      [await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setAudience('app').setExpirationTime(exp).sign(encoder.encode(secret)), 403],
      [await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setAudience('app').setExpirationTime(exp).sign(encoder.encode(secret)), 201],
    ];
    for (const [token, status] of cases) {
      const res = await api('POST', `${tenant.base}/v1/messages`, { token, body: { data: 'x', receivers: { sockets: ['*'] } } });
      expect(res.status).toBe(status);
    }
  });
});

describe('paths', () => {
  it.each([
    '/v1/gateways/../admin/tenants',
    '/v1/gateways/%2e%2e/admin/tenants',
    '/v1/gateways/foo%2Fbar/v1/sockets',
    '/v1/gateways//v1/sockets',
    '/v1/gateways/%00/v1/sockets',
    '/v1/gateways/' + 'a'.repeat(300) + '/v1/sockets',
  ])('answers %s with a clean 4xx and never reaches another tenant or the admin API', async (path) => {
    const res = await api('GET', `https://example.com${path}`, { token: ADMIN_TOKEN });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.reason).toMatch(/not_found|tenant_not_found/);
  });
});

describe('bodies', () => {
  it('answers a 2 MiB body with 413 and a 1 MiB body of nesting with 422', async () => {
    const tenant = await newTenant();
    const huge = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const nested = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: '{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000) });
    expect([413, 422]).toContain(nested.status);
    const deepButSmall = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: '{"data":"x","receivers":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}' });
    expect(deepButSmall.status).toBe(422);
  });

  it('refuses data with a lone surrogate, which could not be delivered byte for byte', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, rawBody: '{"data": "\\ud800", "receivers": {"sockets": ["*"]}}' });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].property).toBe('data');
  });
});

describe('CORS', () => {
  it('answers a preflight from any origin without ever allowing credentials', async () => {
    const tenant = await newTenant();
    for (const origin of ['https://evil.example', 'null', 'http://localhost:1234']) {
      const res = await api('OPTIONS', `${tenant.base}/v1/messages`, { headers: { origin, 'access-control-request-method': 'POST' } });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('gives a cross-origin page nothing without the token', async () => {
    const tenant = await newTenant();
    const s = await connectSocket(tenant);
    const res = await api('POST', `${tenant.base}/v1/messages`, { body: { data: 'x', receivers: { sockets: ['*'] } }, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(401);
    expect(await s.receivesWithin(100)).toBe(false);
    expect((await push(tenant, 'legit', { sockets: ['*'] })).body.sent).toBe(1);
  });
});
