import { describe, expect, it } from 'vitest';
import { api, connect, newTenant } from './helpers';

const body = { data: 'x', receivers: { sockets: ['*'] } };

describe('accessControl "custom" (the default)', () => {
  it.each([
    ['POST', '/v1/messages', body],
    ['GET', '/v1/websocket_uri', undefined],
    ['POST', '/v1/sockets', {}],
    ['GET', '/v1/sockets', undefined],
    ['GET', '/v1/sockets/abc', undefined],
    ['DELETE', '/v1/sockets/abc', undefined],
    ['GET', '/v1/configuration', undefined],
    ['PUT', '/v1/configuration', { accessControl: 'none' }],
  ])('answers %s %s without a token with 401', async (method, path, payload) => {
    const tenant = await newTenant();
    const res = await api(method, `${tenant.base}${path}`, { body: payload });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { reason: 'unauthorized', message: expect.any(String) } });
  });

  it('answers a wrong token with 401', async () => {
    const tenant = await newTenant();
    const res = await api('POST', `${tenant.base}/v1/messages`, { token: 'mws_wrong', body });
    expect(res.status).toBe(401);
  });

  it('never accepts one tenant\'s security token on another tenant', async () => {
    const mine = await newTenant();
    const theirs = await newTenant();
    for (const [method, path] of [['POST', '/v1/messages'], ['GET', '/v1/sockets'], ['GET', '/v1/websocket_uri']] as const) {
      const res = await api(method, `${theirs.base}${path}`, { token: mine.token, body: method === 'POST' ? body : undefined });
      expect(res.status).toBe(401);
    }
  });

  it('reads the configuration', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/v1/configuration`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accessControl: 'custom',
      jwt: null,
      limits: { pushesPerSecond: 1000, connectsPerSecond: 500, maxSockets: 32000, historyMaxAgeSeconds: 86400, historyMaxMessages: 100000, historyMaxBytes: 67108864 },
      shards: 1,
      clientMessages: 'ignore',
      history: { mode: 'auto', maxAgeSeconds: 120, maxMessages: 10000 },
    });
  });
});

describe('accessControl "none" (the original public mode)', () => {
  it('lets anyone get a websocket uri and push, but not manage sockets', async () => {
    const tenant = await newTenant({ accessControl: 'none' });
    const uri = await api('GET', `${tenant.base}/v1/websocket_uri`);
    expect(uri.status).toBe(200);
    const socket = await connect(uri.body.uri);
    const pushed = await api('POST', `${tenant.base}/v1/messages`, { body });
    expect(pushed.status).toBe(201);
    expect(await socket.nextMessage()).toBe('x');
    for (const [method, path] of [['POST', '/v1/sockets'], ['GET', '/v1/sockets'], ['GET', '/v1/configuration']] as const) {
      expect((await api(method, `${tenant.base}${path}`, { body: method === 'POST' ? {} : undefined })).status).toBe(401);
    }
  });

  it('still rejects a wrong token rather than ignoring it', async () => {
    const tenant = await newTenant({ accessControl: 'none' });
    expect((await api('POST', `${tenant.base}/v1/messages`, { token: 'mws_wrong', body })).status).toBe(401);
  });

  it('is switched on and off with PUT /v1/configuration', async () => {
    const tenant = await newTenant();
    expect((await api('POST', `${tenant.base}/v1/messages`, { body })).status).toBe(401);
    const put = await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { accessControl: 'none' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ accessControl: 'none' });
    expect((await api('POST', `${tenant.base}/v1/messages`, { body })).status).toBe(201);
    await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { accessControl: 'custom' } });
    expect((await api('POST', `${tenant.base}/v1/messages`, { body })).status).toBe(401);
  });

  it('answers an unknown accessControl with a 422', async () => {
    const tenant = await newTenant();
    const res = await api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { accessControl: 'open' } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toMatchObject({ reason: 'invalid_value', property: 'accessControl' });
  });
});

describe('the /v1/gateways/{tenant} prefix', () => {
  it('reaches the same tenant as its subdomain, with or without /v1 after the tenant', async () => {
    const tenant = await newTenant();
    const viaGateway = await api('GET', `https://api.example.net/v1/gateways/${tenant.name}/v1/websocket_uri`, { token: tenant.token });
    expect(viaGateway.status).toBe(200);
    expect(viaGateway.body.uri).toMatch(new RegExp(`^wss://api\\.example\\.net/v1/gateways/${tenant.name}/\\?token=`));
    const socket = await connect(viaGateway.body.uri);
    const pushed = await api('POST', `http://127.0.0.1:8787/v1/gateways/${tenant.name}/messages`, { token: tenant.token, body });
    expect(pushed.status).toBe(201);
    expect(pushed.body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('x');
  });

  it('does not let a gateway path walk into another tenant', async () => {
    const mine = await newTenant();
    const theirs = await newTenant();
    const res = await api('GET', `https://example.com/v1/gateways/${theirs.name}/v1/sockets`, { token: mine.token });
    expect(res.status).toBe(401);
    const encoded = await api('GET', `https://example.com/v1/gateways/${mine.name}%2F..%2F${theirs.name}/v1/sockets`, { token: mine.token });
    expect(encoded.status).toBe(404);
  });
});

describe('CORS', () => {
  it('reflects the Origin on responses, errors included', async () => {
    const tenant = await newTenant();
    const ok = await api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body, headers: { origin: 'https://app.example.org' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
    const denied = await api('POST', `${tenant.base}/v1/messages`, { body, headers: { origin: 'https://app.example.org' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
  });

  it('answers a preflight with the allowed methods and headers', async () => {
    const tenant = await newTenant();
    const res = await api('OPTIONS', `${tenant.base}/v1/messages`, {
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
  });

  it('adds no CORS headers when the request has no Origin', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/v1/sockets`, { token: tenant.token });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
