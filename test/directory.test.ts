import { listDurableObjectIds, runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { shardObjectName } from '../src/core/shards';
import { directoryFor, type TenantDirectory } from '../src/directory/tenant-directory';
import { ADMIN_BASE, ADMIN_TOKEN, api, connect, connectSocket, newTenant, push } from './helpers';

const randomName = () => `nx-${crypto.randomUUID().slice(0, 8)}`;

/** Whether the tenant object named `name` was ever started (local workerd gives every started object a database file). */
async function started(name: string): Promise<boolean> {
  const id = env.TENANT_HUB.idFromName(name);
  return (await listDurableObjectIds(env.TENANT_HUB)).some((other) => other.equals(id));
}

async function jwtFor(tenant: string): Promise<string> {
  return new SignJWT({ sid: 'someone' })
    .setProtectedHeader({ alg: 'HS256', kid: 'k' })
    .setAudience(tenant)
    .setJti('j')
    .setExpirationTime('1m')
    .sign(new TextEncoder().encode('x'.repeat(32)));
}

describe('the tenant directory', () => {
  it('keeps requests for a tenant that does not exist from starting any object', async () => {
    const name = randomName();
    const base = `https://${name}.example.com`;
    expect((await api('GET', `${base}/v1/websocket_uri`)).status).toBe(404);
    expect((await api('GET', `${ADMIN_BASE}/v1/gateways/${name}/v1/websocket_uri`)).status).toBe(404);
    expect((await api('POST', `${base}/v1/sockets`, { token: 'mws_guess', body: { tags: Array(2000).fill(0) } })).body.error.reason).toBe('tenant_not_found');
    expect((await api('POST', `${base}/v1/messages`, { token: 'mws_guess', body: { data: 'x', receivers: { sockets: ['*'] } } })).status).toBe(404);
    expect((await exports.default.fetch(`${base}/console/`)).status).toBe(404);
    for (const token of ['opaque', '7~opaque', await jwtFor(name)]) {
      expect((await (await connect(`${base}/?token=${token}`)).closed()).code).toBe(4404);
    }
    for (const object of [name, shardObjectName(name, 7)]) expect(await started(object)).toBe(false);
  });

  it('refuses connect tokens with a shard prefix the tenant never had, without starting that shard', async () => {
    const name = randomName();
    expect((await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards: 2 } })).status).toBe(201);
    for (const prefix of [2, 9, 63]) {
      expect((await (await connect(`https://${name}.example.com/?token=${prefix}~bogus`)).closed()).code).toBe(4401);
      expect(await started(shardObjectName(name, prefix))).toBe(false);
    }
    expect((await (await connect(`https://${name}.example.com/?token=1~bogus`)).closed()).code).toBe(4401);
  });

  it('lists a tenant made before the directory existed once the operator describes it', async () => {
    const tenant = await newTenant();
    const { createdAt } = await runInDurableObject(directoryFor(env, tenant.name), (_, state) => {
      const row = state.storage.sql.exec<{ created_at: number }>('SELECT created_at FROM tenants WHERE name = ?', tenant.name).one();
      state.storage.sql.exec('DELETE FROM tenants WHERE name = ?', tenant.name);
      return { createdAt: row.created_at };
    });
    expect(createdAt).toBeGreaterThan(0);
    expect((await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token })).status).toBe(404);
    expect((await api('GET', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).status).toBe(200);
    expect((await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token })).status).toBe(200);
  });

  it('forgets a deleted tenant, and lists a new tenant of the same name', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { id: 'a' });
    expect((await api('DELETE', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).status).toBe(200);
    expect(await directoryFor(env, tenant.name).has(tenant.name)).toBe(false);
    await socket.closed();
    const again = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name: tenant.name } });
    expect(again.status).toBe(201);
    expect(await directoryFor(env, tenant.name).has(tenant.name)).toBe(true);
    const successor = { ...tenant, token: again.body.securityToken };
    const fresh = await connectSocket(successor, { id: 'b' });
    expect((await push(successor, 'hello', { sockets: ['b'] })).body.sent).toBe(1);
    expect(await fresh.nextMessage()).toBe('hello');
  });

  it('deletes a tenant even when the directory cannot unlist it; the name left listed answers 404', async () => {
    const tenant = await newTenant();
    type Remove = TenantDirectory['remove'];
    const unreachable = (instance: TenantDirectory, broken: boolean) => {
      const proto = Object.getPrototypeOf(instance) as { remove: Remove; real?: Remove };
      proto.real ??= proto.remove;
      proto.remove = broken ? () => { throw new Error('directory down'); } : proto.real;
    };
    await runInDurableObject(directoryFor(env, tenant.name), (instance: TenantDirectory) => unreachable(instance, true));
    try {
      expect((await api('DELETE', `${ADMIN_BASE}/admin/tenants/${tenant.name}`, { token: ADMIN_TOKEN })).status).toBe(200);
    } finally {
      await runInDurableObject(directoryFor(env, tenant.name), (instance: TenantDirectory) => unreachable(instance, false));
    }
    expect(await directoryFor(env, tenant.name).has(tenant.name)).toBe(true);
    expect((await api('GET', `${tenant.base}/v1/websocket_uri`, { token: tenant.token })).body.error.reason).toBe('tenant_not_found');
  });

  it('keeps a tenant listed when a late removal names an earlier tenant of the same name', async () => {
    const name = randomName();
    const directory = directoryFor(env, name);
    await directory.add(name, 2000);
    await directory.remove(name, 1000);
    expect(await directory.has(name)).toBe(true);
    await directory.remove(name, 2000);
    expect(await directory.has(name)).toBe(false);
  });
});
