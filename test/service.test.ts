import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, api, newTenant } from './helpers';

describe('service info and routing', () => {
  it('answers GET / with the service name on the apex host', async () => {
    const res = await api('GET', `${ADMIN_BASE}/`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'MWS', tenant: null });
  });

  it('answers GET / with the service name and tenant on a tenant host, without a token', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'MWS', tenant: tenant.name });
  });

  it('answers an unknown path with a 404 in the error envelope', async () => {
    const res = await api('GET', `${ADMIN_BASE}/nope`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { reason: 'not_found', message: expect.any(String) } });
  });

  it('answers a known path with the wrong method with a 405 and an Allow header', async () => {
    const tenant = await newTenant();
    const res = await api('PATCH', `${tenant.base}/v1/messages`, { token: tenant.token });
    expect(res.status).toBe(405);
    expect(res.body.error.reason).toBe('method_not_allowed');
    expect(res.headers.get('allow')).toContain('POST');
  });

  it('does not serve the admin API on a tenant host', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/admin/tenants`, { token: 'test-admin-token', body: { name: 'x' } });
    expect(res.status).toBe(404);
  });

  it('answers tenant calls on the apex host with a 404 that says how to name a tenant', async () => {
    const res = await api('POST', `${ADMIN_BASE}/v1/messages`, { body: { data: 'x', receivers: { sockets: ['*'] } } });
    expect(res.status).toBe(404);
  });

  it('answers a request for a tenant that does not exist with tenant_not_found', async () => {
    const res = await api('GET', 'https://ghost-tenant.example.com/v1/sockets', { token: 'whatever' });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('tenant_not_found');
  });

  it('answers an invalid tenant label with tenant_not_found without touching any tenant', async () => {
    const res = await api('GET', 'https://example.com/v1/gateways/Bad_Name/v1/sockets', { token: 'whatever' });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('tenant_not_found');
  });
});

describe('behind a TLS-terminating proxy', () => {
  it('hands out wss:// connect URIs when the proxy says X-Forwarded-Proto: https', async () => {
    const tenant = await newTenant();
    const plain = `http://${tenant.name}.example.com/v1/websocket_uri`;
    const proxied = await api('GET', plain, { token: tenant.token, headers: { 'x-forwarded-proto': 'https' } });
    expect(proxied.body.uri).toMatch(new RegExp(`^wss://${tenant.name}\\.example\\.com/\\?token=`));
    expect((await api('GET', plain, { token: tenant.token })).body.uri).toMatch(/^ws:\/\//);
  });

  it('never downgrades an https request to ws:// whatever X-Forwarded-Proto says', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token, headers: { 'x-forwarded-proto': 'http' } });
    expect(res.body.uri).toMatch(/^wss:\/\//);
  });
});

describe('odd paths', () => {
  it.each(['//', '//v1/..', '///v1/messages', '/v1//sockets'])('answers %s on a tenant host with JSON, not a 500', async (path) => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}${path}`, { token: tenant.token });
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(typeof res.body).toBe('object');
  });
});

describe('malformed path escapes', () => {
  it.each(['/v1/sockets/%zz', '/v1/sockets/%E0%A4%A', '/v1/signing-keys/%'])('answers %s with a JSON 404, not a 500', async (path) => {
    const tenant = await newTenant();
    const method = path.startsWith('/v1/signing-keys') ? 'DELETE' : 'GET';
    const res = await api(method, `${tenant.base}${path}`, { token: tenant.token });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toMatch(/not_found/);
  });

  it('answers a malformed tenant name escape on the admin API with a 404', async () => {
    const res = await api('GET', `${ADMIN_BASE}/admin/tenants/%zz`, { token: 'test-admin-token' });
    expect(res.status).toBe(404);
  });
});
