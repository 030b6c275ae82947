import { importJWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { api, newTenant, type TestTenant } from './helpers';
import './support/jwks-server-context';

// A real key-set server on loopback (test/support/jwks-server.ts): these fetches go through workerd's own network
// stack, which reports a failed fetch with errors of its own, not a TypeError.
const { origin, closedPort, privateJwk } = inject('jwksServer');
const serverPort = new URL(origin).port;

async function tenantWithKeySetAt(jwksUrl: string): Promise<TestTenant> {
  const tenant = await newTenant();
  const res = await api('PUT', `${tenant.base}/v1/configuration`, {
    token: tenant.token,
    body: { accessControl: 'jwt', jwt: { jwksUrl, policy: { read: ['*'], write: ['*'] } } },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return tenant;
}

const userToken = async () =>
  new SignJWT({ sub: 'local-user' }).setProtectedHeader({ alg: 'ES256', kid: 'local' }).setExpirationTime('5m').sign(await importJWK(privateJwk, 'ES256'));

describe('a tenant whose key set is at a URL', () => {
  it('verifies its users with the key set fetched from the URL', async () => {
    const tenant = await tenantWithKeySetAt(`${origin}/jwks`);
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await userToken() });
    expect(res.status).toBe(200);
    expect(res.body.tags).toEqual(['user:local-user']);
  });

  it.each([
    ['nothing listens on the port', `http://127.0.0.1:${closedPort}/jwks`],
    ['nothing listens on the https port', `https://127.0.0.1:${closedPort}/jwks`],
    ['the TLS handshake fails (https to a plain-http server)', `https://127.0.0.1:${serverPort}/jwks`],
    ['the host name does not resolve', 'https://no-such-host.invalid/.well-known/jwks.json'],
    ['the address is unroutable (TEST-NET-1)', 'https://192.0.2.1/.well-known/jwks.json'],
    ['the server answers 500', `${origin}/500`],
    ['the server answers something that is not JSON', `${origin}/garbage`],
    ['the server answers JSON that is not a key set', `${origin}/not-a-key-set`],
  ])('answers 503 key_set_unavailable with Retry-After when %s', async (_, jwksUrl) => {
    const tenant = await tenantWithKeySetAt(jwksUrl);
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await userToken() });
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.error.reason).toBe('key_set_unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
