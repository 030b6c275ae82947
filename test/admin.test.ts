import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { handleRequest } from '../src/worker/handler';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, newTenant } from './helpers';

const tenantsUrl = `${ADMIN_BASE}/admin/tenants`;

describe('admin API', () => {
  it('creates a tenant and returns its security token once', async () => {
    const name = `a-${crypto.randomUUID().slice(0, 8)}`;
    const res = await api('POST', tenantsUrl, { token: ADMIN_TOKEN, body: { name } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ name, securityToken: expect.stringMatching(/^mws_/), accessControl: 'custom', limits: expect.any(Object), shards: 1 });
    const info = await api('GET', `${tenantsUrl}/${name}`, { token: ADMIN_TOKEN });
    expect(info.body).not.toHaveProperty('securityToken');
    expect(JSON.stringify(info.body)).not.toContain(res.body.securityToken);
  });

  it('answers 409 when the tenant exists', async () => {
    const tenant = await newTenant();
    const res = await api('POST', tenantsUrl, { token: ADMIN_TOKEN, body: { name: tenant.name } });
    expect(res.status).toBe(409);
    expect(res.body.error.reason).toBe('tenant_exists');
  });

  it.each([['Upper'], ['-dash'], ['has_underscore'], ['a'.repeat(64)], ['']])('refuses the tenant name %j with a 422', async (name) => {
    const res = await api('POST', tenantsUrl, { token: ADMIN_TOKEN, body: { name } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].property).toBe('name');
  });

  it('answers a missing or wrong admin token with 401', async () => {
    expect((await api('POST', tenantsUrl, { body: { name: 'nope' } })).status).toBe(401);
    expect((await api('POST', tenantsUrl, { token: 'wrong', body: { name: 'nope' } })).status).toBe(401);
  });

  it('refuses every admin call when ADMIN_TOKEN is not configured', async () => {
    const unconfigured = { ...env, ADMIN_TOKEN: undefined } as Env;
    const res = await handleRequest(
      new Request(tenantsUrl, { method: 'POST', headers: { authorization: 'Bearer anything' }, body: '{"name":"x"}' }),
      unconfigured,
    );
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { reason: 'admin_api_disabled', message: expect.stringContaining('ADMIN_TOKEN') } });
  });

  it('does not accept a tenant security token as the admin token', async () => {
    const tenant = await newTenant();
    expect((await api('GET', `${tenantsUrl}/${tenant.name}`, { token: tenant.token })).status).toBe(401);
  });

  it('describes a tenant without revealing its tokens, and 404s an unknown one', async () => {
    const tenant = await newTenant();
    await connectSocket(tenant);
    const res = await api('GET', `${tenantsUrl}/${tenant.name}`, { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name: tenant.name, accessControl: 'custom', createdAt: expect.any(String), securityTokens: 1, sockets: 1, limits: expect.any(Object), shards: 1, previousShards: [] });
    expect((await api('GET', `${tenantsUrl}/unknown-tenant`, { token: ADMIN_TOKEN })).status).toBe(404);
  });

  it('rotates the security token with both old and new valid until the old one is revoked', async () => {
    const tenant = await newTenant();
    const rotated = await api('POST', `${tenantsUrl}/${tenant.name}/security-tokens`, { token: ADMIN_TOKEN });
    expect(rotated.status).toBe(201);
    expect(rotated.body).toEqual({ securityToken: expect.stringMatching(/^mws_/), validTokens: 2 });
    const fresh = rotated.body.securityToken as string;
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).status).toBe(200);
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: fresh })).status).toBe(200);
    const revoked = await api('DELETE', `${tenantsUrl}/${tenant.name}/security-tokens/previous`, { token: ADMIN_TOKEN });
    expect(revoked.body).toEqual({ validTokens: 1 });
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).status).toBe(401);
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: fresh })).status).toBe(200);
  });

  it('keeps at most two tokens valid: a second rotation retires the oldest', async () => {
    const tenant = await newTenant();
    await api('POST', `${tenantsUrl}/${tenant.name}/security-tokens`, { token: ADMIN_TOKEN });
    await api('POST', `${tenantsUrl}/${tenant.name}/security-tokens`, { token: ADMIN_TOKEN });
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).status).toBe(401);
  });

  it('deletes a tenant: its sockets close with 4000, its API answers 404, and the name can be reused', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant);
    const res = await api('DELETE', `${tenantsUrl}/${tenant.name}`, { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect((await socket.closed()).code).toBe(4000);
    const after = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(after.status).toBe(404);
    expect(after.body.error.reason).toBe('tenant_not_found');
    const again = await api('POST', tenantsUrl, { token: ADMIN_TOKEN, body: { name: tenant.name } });
    expect(again.status).toBe(201);
    expect((await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token })).status).toBe(401);
    expect((await api('POST', `${tenant.base}/v1/sockets`, { token: again.body.securityToken, body: {} })).status).toBe(201);
  });

  it('is not served on IP-address hosts for tenants: an IP host is the admin host', async () => {
    const res = await api('GET', 'http://127.0.0.1:8787/admin/tenants/whatever', { token: ADMIN_TOKEN });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('tenant_not_found');
  });
});

describe('admin API abuse', () => {
  it('answers more than 60 admin calls a minute from one address with 429, guessing or not', async () => {
    // The limiter's windows are aligned to the wall-clock minute. Each run has an address (a bucket) of its own; a run
    // that straddles a minute boundary proves nothing, so it is made again in the new window instead of waiting.
    const minute = () => Math.floor(Date.now() / 60_000);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const address = documentationAddress();
      const startedIn = minute();
      const statuses: number[] = [];
      for (let i = 0; i < 62; i++) {
        const res = await api('GET', `${tenantsUrl}/whoever`, { token: `guess-${i}`, headers: { 'cf-connecting-ip': address } });
        statuses.push(res.status);
      }
      if (minute() !== startedIn) continue;
      expect(statuses.slice(0, 60).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(60)).toEqual([429, 429]);
      const other = await api('GET', `${tenantsUrl}/whoever`, { token: ADMIN_TOKEN, headers: { 'cf-connecting-ip': documentationAddress() } });
      expect(other.status).toBe(404);
      return;
    }
    throw new Error('two runs in a row straddled a minute boundary');
  });
});

/** A fresh address from the IPv6 documentation range, so every test has a rate-limit bucket of its own. */
function documentationAddress(): string {
  return `2001:db8::${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}`;
}
