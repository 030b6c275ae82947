import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { handleRequest } from '../src/worker/handler';
import { ADMIN_TOKEN, api, connect, newTenant } from './helpers';

/** The Worker as deployed with ROOT_DOMAIN unset: no routes, a workers.dev or custom service host. */
const withoutRootDomain = async (method: string, url: string, body?: unknown, token = ADMIN_TOKEN) => {
  const res = await handleRequest(
    new Request(url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }),
    { ...env, ROOT_DOMAIN: '' },
  );
  return { status: res.status, body: (await res.json()) as any };
};

describe('hosts', () => {
  it.each(['https://mws.acct.workers.dev', 'https://push.example.org'])(
    'serves the admin API and tenants by gateway on %s when ROOT_DOMAIN is unset',
    async (origin) => {
      const name = `h-${crypto.randomUUID().slice(0, 8)}`;
      const created = await withoutRootDomain('POST', `${origin}/admin/tenants`, { name });
      expect(created.status).toBe(201);
      const push = await withoutRootDomain('POST', `${origin}/v1/gateways/${name}/v1/messages`, { data: 'hi', receivers: { sockets: ['*'], tags: null } }, created.body.securityToken);
      expect(push).toMatchObject({ status: 201, body: { sent: 0 } });
      const uri = await withoutRootDomain('GET', `${origin}/v1/gateways/${name}/v1/websocket_uri`, undefined, created.body.securityToken);
      expect(uri.body.uri).toMatch(new RegExp(`^wss://${origin.slice('https://'.length)}/v1/gateways/${name}/\\?token=`));
    },
  );

  it('tells a caller of a tenant path on the service host to use the gateway form', async () => {
    const res = await withoutRootDomain('POST', 'https://mws.acct.workers.dev/v1/messages', { data: 'x', receivers: { sockets: ['*'] } });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('https://mws.acct.workers.dev/v1/gateways/<tenant>/v1/messages');
  });

  it('tells a caller of the admin API on a tenant host where the admin API is', async () => {
    const tenant = await newTenant();
    const res = await api('GET', `${tenant.base}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('the admin API is on the service host');
    expect(res.body.error.message).toContain('https://example.com');
  });

  it('still names tenants by <tenant>.localhost for local development', async () => {
    const tenant = await newTenant({ accessControl: 'none' });
    const uri = await api('GET', `http://${tenant.name}.localhost:8787/v1/websocket_uri`);
    expect(uri.status).toBe(200);
    expect(uri.body.uri).toMatch(new RegExp(`^ws://${tenant.name}\\.localhost:8787/\\?token=`));
    const socket = await connect(uri.body.uri);
    const push = await api('POST', `${tenant.base}/v1/messages`, { body: { data: 'local', receivers: { sockets: ['*'] } } });
    expect(push.body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('local');
  });
});
