import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDurableObjectAlarm } from 'cloudflare:test';
import { api, connect, hubStub, newTenant, push, type TestTenant } from './helpers';
import { base64url } from 'jose';

const b64url = (value: unknown) => base64url.encode(JSON.stringify(value));

const SECRET = 'an-hs256-secret-of-at-least-32-characters!';
const AUDIENCE = 'mws-test';
const ISSUER = 'https://issuer.test/';
const encoder = new TextEncoder();


async function hsToken(claims: JWTPayload, options: { secret?: string; exp?: string | number; nbf?: string | number; aud?: string; iss?: string } = {}) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuer(options.iss ?? ISSUER)
    .setExpirationTime(options.exp ?? '5m');
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(encoder.encode(options.secret ?? SECRET));
}

async function jwtTenant(jwt: Record<string, unknown> = {}): Promise<TestTenant> {
  const tenant = await newTenant();
  const res = await api('PUT', `${tenant.base}/v1/configuration`, {
    token: tenant.token,
    body: {
      accessControl: 'jwt',
      jwt: { secret: SECRET, audience: AUDIENCE, issuer: ISSUER, policy: { read: ['*'], write: ['group:admins', 'user:root'] }, ...jwt },
    },
  });
  expect(res.status).toBe(200);
  return tenant;
}

describe('accessControl "jwt": end-user tokens', () => {
  it('lets a user with a valid token get a uri tagged with their subject, so a backend can push to them', async () => {
    const tenant = await jwtTenant();
    const userToken = await hsToken({ sub: 'alice' });
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: userToken });
    expect(res.status).toBe(200);
    expect(res.body.tags).toEqual(['user:alice']);
    const socket = await connect(res.body.uri);
    expect((await push(tenant, 'for alice', { tags: ['user:alice'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('for alice');
  });

  it('does not tag the socket when subjectTag is false', async () => {
    const tenant = await jwtTenant({ subjectTag: false });
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await hsToken({ sub: 'alice' }) });
    expect(res.body.tags).toEqual([]);
  });

  it('answers a valid token without write permission with 403, and lets a group member or listed user push', async () => {
    const tenant = await jwtTenant();
    const body = { data: 'x', receivers: { sockets: ['*'] } };
    const reader = await api('POST', `${tenant.base}/v1/messages`, { token: await hsToken({ sub: 'bob', groups: ['users'] }), body });
    expect(reader.status).toBe(403);
    expect(reader.body.error.reason).toBe('forbidden');
    expect((await api('POST', `${tenant.base}/v1/messages`, { token: await hsToken({ sub: 'carol', groups: ['admins'] }), body })).status).toBe(201);
    expect((await api('POST', `${tenant.base}/v1/messages`, { token: await hsToken({ sub: 'dave', groups: 'staff admins' }), body })).status).toBe(201);
    expect((await api('POST', `${tenant.base}/v1/messages`, { token: await hsToken({ sub: 'root' }), body })).status).toBe(201);
  });

  it('answers a token without read permission with 403', async () => {
    const tenant = await jwtTenant({ policy: { read: ['group:subscribers'], write: [] } });
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await hsToken({ sub: 'eve' }) });
    expect(res.status).toBe(403);
  });

  it('never lets an end-user token manage sockets or configuration', async () => {
    const tenant = await jwtTenant();
    const token = await hsToken({ sub: 'root', groups: ['admins'] });
    for (const [method, path] of [['GET', '/v1/sockets'], ['POST', '/v1/sockets'], ['GET', '/v1/configuration'], ['POST', '/v1/signing-keys']] as const) {
      const res = await api(method, `${tenant.base}${path}`, { token, body: method === 'POST' ? {} : undefined });
      expect(res.status).toBe(401);
    }
  });

  it('keeps full access for the security token', async () => {
    const tenant = await jwtTenant();
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).status).toBe(200);
    expect((await push(tenant, 'x', { sockets: ['*'] })).status).toBe(201);
  });

  it.each([
    ['an expired token', 'token_expired', () => hsToken({ sub: 'a' }, { exp: Math.floor(Date.now() / 1000) - 60 })],
    ['a token not valid yet', 'token_not_yet_valid', () => hsToken({ sub: 'a' }, { nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['a token signed with another secret', 'invalid_signature', () => hsToken({ sub: 'a' }, { secret: 'some-other-secret-that-is-long-enough!!' })],
    ['a token for another audience', 'invalid_audience', () => hsToken({ sub: 'a' }, { aud: 'someone-else' })],
    ['a token from another issuer', 'invalid_issuer', () => hsToken({ sub: 'a' }, { iss: 'https://evil.test/' })],
    ['an unsigned alg "none" token', 'unsupported_algorithm', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'a', aud: AUDIENCE, iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 300 })}.`],
    ['a token whose header is not JSON', 'invalid_token', async () => `bm90LWpzb24.${b64url({ sub: 'a' })}.c2ln`],
  ])('answers %s with 401 and reason %s', async (_, reason, makeToken) => {
    const tenant = await jwtTenant();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await makeToken() });
    expect(res.status).toBe(401);
    expect(res.body.error.reason).toBe(reason);
  });

  it('answers a token missing the audience claim with 401 when the tenant requires one', async () => {
    const tenant = await jwtTenant();
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setExpirationTime('5m').sign(encoder.encode(SECRET));
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token });
    expect(res.status).toBe(401);
    expect(res.body.error.reason).toBe('invalid_audience');
  });

  it('refuses a token without exp, which would never expire, with 401 invalid_claims on every call', async () => {
    const tenant = await jwtTenant();
    const forever = await new SignJWT({ sub: 'root' }).setProtectedHeader({ alg: 'HS256' }).setAudience(AUDIENCE).setIssuer(ISSUER).sign(encoder.encode(SECRET));
    const uri = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: forever });
    expect(uri.status).toBe(401);
    expect(uri.body.error).toEqual({ reason: 'invalid_claims', message: expect.stringContaining('"exp"') });
    const pushed = await api('POST', `${tenant.base}/v1/messages`, { token: forever, body: { data: 'x', receivers: { sockets: ['*'] } } });
    expect(pushed.status).toBe(401);
    expect(pushed.body.error.reason).toBe('invalid_claims');
  });

  it('does not accept end-user tokens while the tenant is not in jwt mode', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await hsToken({ sub: 'a' }) });
    expect(res.status).toBe(401);
  });
});

describe('accessControl "jwt" with public keys', () => {
  it('verifies ES256 tokens against a JWKS document and rejects another key and the HS256 confusion trick', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const tenant = await newTenant();
    const put = await api('PUT', `${tenant.base}/v1/configuration`, {
      token: tenant.token,
      body: { accessControl: 'jwt', jwt: { jwks: { keys: [jwk] }, audience: AUDIENCE, policy: { read: ['*'], write: [] } } },
    });
    expect(put.status).toBe(200);
    const sign = (key: CryptoKey) => new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setAudience(AUDIENCE).setExpirationTime('5m').sign(key);
    expect((await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await sign(privateKey) })).status).toBe(200);
    const forged = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await sign(other.privateKey) });
    expect(forged.body.error.reason).toBe('invalid_signature');
    const confused = await new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setAudience(AUDIENCE).setExpirationTime('5m').sign(encoder.encode(JSON.stringify(jwk)));
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: confused });
    expect(res.status).toBe(401);
    expect(res.body.error.reason).toBe('unsupported_algorithm');
  });

  describe('with a JWKS URL', () => {
    afterEach(() => vi.restoreAllMocks());

    it('fetches the key set from the URL and verifies RS256 tokens with it', async () => {
      const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
      const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'rsa1', alg: 'RS256', use: 'sig' }] };
      const realFetch = globalThis.fetch;
      const fetched: string[] = [];
      vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        if (url.startsWith('https://issuer.test/')) {
          fetched.push(url);
          return Response.json(jwks);
        }
        return realFetch(input, init);
      });
      const tenant = await newTenant();
      await api('PUT', `${tenant.base}/v1/configuration`, {
        token: tenant.token,
        body: { accessControl: 'jwt', jwt: { jwksUrl: 'https://issuer.test/.well-known/jwks.json', policy: { read: ['*'], write: ['*'] } } },
      });
      const token = await new SignJWT({ sub: 'u2' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa1' }).setExpirationTime('5m').sign(privateKey);
      const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token });
      expect(res.status).toBe(200);
      expect(res.body.tags).toEqual(['user:u2']);
      expect(fetched).toEqual(['https://issuer.test/.well-known/jwks.json']);
    });
  });
});

describe('PUT /v1/configuration for jwt', () => {
  it('refuses jwt mode without settings, and settings without a key or policy', async () => {
    const tenant = await newTenant();
    const put = (body: unknown) => api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body });
    const noSettings = await put({ accessControl: 'jwt' });
    expect(noSettings.status).toBe(422);
    expect(noSettings.body.errors[0].property).toBe('jwt');
    const noKey = await put({ accessControl: 'jwt', jwt: { policy: { read: ['*'], write: [] } } });
    expect(noKey.status).toBe(422);
    const twoKeys = await put({ accessControl: 'jwt', jwt: { secret: SECRET, jwksUrl: 'https://x.test/jwks', policy: { read: [], write: [] } } });
    expect(twoKeys.status).toBe(422);
    const shortSecret = await put({ accessControl: 'jwt', jwt: { secret: 'short', policy: { read: [], write: [] } } });
    expect(shortSecret.body.errors[0].property).toBe('jwt.secret');
    const httpUrl = await put({ accessControl: 'jwt', jwt: { jwksUrl: 'http://x.test/jwks', policy: { read: [], write: [] } } });
    expect(httpUrl.body.errors[0].property).toBe('jwt.jwksUrl');
    const badPolicy = await put({ accessControl: 'jwt', jwt: { secret: SECRET, policy: { read: ['everyone'], write: [] } } });
    expect(badPolicy.body.errors[0].property).toBe('jwt.policy.read[0]');
    expect((await api('GET', `${tenant.base}/v1/configuration`, { token: tenant.token })).body.accessControl).toBe('custom');
  });

  it('never returns the shared secret', async () => {
    const tenant = await jwtTenant();
    const res = await api('GET', `${tenant.base}/v1/configuration`, { token: tenant.token });
    expect(res.body.jwt).toMatchObject({ secret: 'configured', audience: AUDIENCE, issuer: ISSUER, groupsClaim: 'groups', subjectTag: true });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
  });
});

describe('connect tokens minted by a backend', () => {
  async function signingKey(tenant: TestTenant) {
    const res = await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ kid: expect.any(String), secret: expect.any(String), algorithm: 'HS256', createdAt: expect.any(String) });
    return res.body as { kid: string; secret: string };
  }
  const mint = (key: { kid: string; secret: string }, claims: JWTPayload, aud: string, exp: string | number = '2m') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.kid }).setAudience(aud).setJti(crypto.randomUUID()).setExpirationTime(exp).sign(encoder.encode(key.secret));

  it('connect a socket with the id and tags the backend signed, without a round trip', async () => {
    const tenant = await newTenant();
    const key = await signingKey(tenant);
    const token = await mint(key, { sid: 'player-7', tags: ['room:1', 'room:1', 'vip'] }, tenant.name);
    const socket = await connect(`${tenant.base}/?token=${token}`);
    const info = await api('GET', `${tenant.base}/v1/sockets/player-7`, { token: tenant.token });
    expect(info.body).toMatchObject({ id: 'player-7', tags: ['room:1', 'vip'] });
    expect((await push(tenant, 'room one', { tags: ['room:1'] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('room one');
  });

  it('works once: a replay is closed with 4401', async () => {
    const tenant = await newTenant();
    const token = await mint(await signingKey(tenant), {}, tenant.name);
    const first = await connect(`${tenant.base}/?token=${token}`);
    const replay = await connect(`${tenant.base}/?token=${token}`);
    expect((await replay.closed()).code).toBe(4401);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('works once even in the seconds after exp that the clock tolerance still accepts, after a sweep', async () => {
    const tenant = await newTenant();
    const token = await mint(await signingKey(tenant), {}, tenant.name, Math.floor(Date.now() / 1000) - 2);
    const first = await connect(`${tenant.base}/?token=${token}`);
    expect(await runDurableObjectAlarm(hubStub(tenant.name))).toBe(true);
    const replay = await connect(`${tenant.base}/?token=${token}`);
    expect((await replay.closed()).code).toBe(4401);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
  });

  it.each([
    ['expired', 'token_expired', async (key: { kid: string; secret: string }, name: string) => mint(key, {}, name, Math.floor(Date.now() / 1000) - 60)],
    ['for another tenant', 'invalid_audience', async (key: { kid: string; secret: string }) => mint(key, {}, 'another-tenant')],
    ['valid for more than an hour', 'invalid_claims', async (key: { kid: string; secret: string }, name: string) => mint(key, {}, name, '2h')],
    ['signed with an unknown key id', 'invalid_signature', async (key: { kid: string; secret: string }, name: string) => mint({ ...key, kid: 'nope' }, {}, name)],
    ['signed with a wrong secret', 'invalid_signature', async (key: { kid: string; secret: string }, name: string) => mint({ ...key, secret: 'wrong-secret' }, {}, name)],
    ['carrying too many tags', 'invalid_claims', async (key: { kid: string; secret: string }, name: string) => mint(key, { tags: Array.from({ length: 10 }, (_, i) => `t${i}`) }, name)],
  ])('refuses a token %s with 4401 and says why', async (_, reason, make) => {
    const tenant = await newTenant();
    const key = await signingKey(tenant);
    const socket = await connect(`${tenant.base}/?token=${await make(key, tenant.name)}`);
    const closed = await socket.closed();
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain(reason);
  });

  it('stops accepting tokens of a deleted key', async () => {
    const tenant = await newTenant();
    const key = await signingKey(tenant);
    expect((await api('GET', `${tenant.base}/v1/signing-keys`, { token: tenant.token })).body.results).toEqual([{ kid: key.kid, createdAt: expect.any(String) }]);
    expect((await api('DELETE', `${tenant.base}/v1/signing-keys/${key.kid}`, { token: tenant.token })).status).toBe(200);
    expect((await api('DELETE', `${tenant.base}/v1/signing-keys/${key.kid}`, { token: tenant.token })).status).toBe(404);
    const socket = await connect(`${tenant.base}/?token=${await mint(key, {}, tenant.name)}`);
    expect((await socket.closed()).code).toBe(4401);
  });

  it('allows at most three signing keys', async () => {
    const tenant = await newTenant();
    for (let i = 0; i < 3; i++) await signingKey(tenant);
    const res = await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token });
    expect(res.status).toBe(409);
    expect(res.body.error.reason).toBe('too_many_signing_keys');
  });
});
