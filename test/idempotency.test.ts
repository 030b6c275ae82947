import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { shardObjectName, shardOf } from '../src/core/shards';
import type { TenantHub } from '../src/hub/tenant-hub';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, hubStub, newTenant, type TestSocket, type TestTenant } from './helpers';

const keyedPush = (tenant: TestTenant, key: string, body: unknown) =>
  api('POST', `${tenant.base}/v1/messages`, { token: tenant.token, body, headers: { 'idempotency-key': key } });

async function shardedTenant(shards: number): Promise<TestTenant> {
  const name = `idem-${crypto.randomUUID().slice(0, 8)}`;
  const res = await api('POST', `${ADMIN_BASE}/admin/tenants`, { token: ADMIN_TOKEN, body: { name, shards } });
  expect(res.status).toBe(201);
  return { name, token: res.body.securityToken, base: `https://${name}.example.com` };
}

type Deliver = TenantHub['shardDeliver'];
type Replacement = (real: Deliver, ...args: Parameters<Deliver>) => number | Promise<number>;
/** Per object, what its shardDeliver does instead (RPC only calls prototype methods, so the prototype dispatches). */
const replacements = new WeakMap<object, Replacement>();

/** Replaces shard k's shardDeliver until `restore` is called. */
async function breakShard(tenant: TestTenant, shard: number, replacement: Replacement): Promise<() => Promise<void>> {
  const stub = hubStub(shardObjectName(tenant.name, shard));
  await runInDurableObject(stub, (instance: TenantHub) => {
    const proto = Object.getPrototypeOf(instance) as { shardDeliver: Deliver; patched?: true };
    if (proto.patched !== true) {
      const real = proto.shardDeliver;
      proto.shardDeliver = function (this: TenantHub, ...args: Parameters<Deliver>) {
        const instead = replacements.get(this);
        return (instead === undefined ? real.apply(this, args) : instead(real.bind(this), ...args)) as number;
      };
      proto.patched = true;
    }
    replacements.set(instance, replacement);
  });
  return () => runInDurableObject(stub, (instance: TenantHub) => void replacements.delete(instance));
}

async function drain(socket: TestSocket): Promise<string[]> {
  await socket.receivesWithin(150);
  while (await socket.receivesWithin(30));
  return [...socket.messages];
}

describe('Idempotency-Key on POST /v1/messages', () => {
  it('answers a repeat with the first response, marked as a replay, and sends nothing again', async () => {
    const tenant = await newTenant();
    const socket = await connectSocket(tenant, { tags: ['red'] });
    const body = { data: 'once', receivers: { tags: ['red'] } };
    const first = await keyedPush(tenant, 'order-42', body);
    const again = await keyedPush(tenant, 'order-42', body);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await drain(socket)).toEqual(['once']);
  });

  it('treats the quoted Structured Fields form and the bare form as the same key', async () => {
    const tenant = await newTenant();
    const body = { data: 'x', receivers: { sockets: ['*'] } };
    const first = await keyedPush(tenant, '"abc-1"', body);
    const again = await keyedPush(tenant, 'abc-1', body);
    expect(again.body.id).toBe(first.body.id);
  });

  it('refuses the same key with another body with 422', async () => {
    const tenant = await newTenant();
    await keyedPush(tenant, 'k', { data: 'one', receivers: { sockets: ['*'] } });
    const other = await keyedPush(tenant, 'k', { data: 'two', receivers: { sockets: ['*'] } });
    expect(other.status).toBe(422);
    expect(other.body.error.reason).toBe('idempotency_key_reused');
  });

  it('refuses a key that is not one with 400', async () => {
    const tenant = await newTenant();
    for (const key of ['', 'x'.repeat(256), 'tab\there']) {
      const res = await keyedPush(tenant, key, { data: 'x', receivers: { sockets: ['*'] } });
      expect(res.status, key).toBe(400);
      expect(res.body.error.reason).toBe('invalid_idempotency_key');
    }
  });

  it('keeps keys per tenant', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const body = { data: 'x', receivers: { sockets: ['*'] } };
    const fromA = await keyedPush(a, 'shared', body);
    const fromB = await keyedPush(b, 'shared', body);
    expect(fromB.headers.get('idempotent-replayed')).toBeNull();
    expect(fromB.body.id).not.toBe(fromA.body.id);
  });

  it('answers 409 to a repeat while the first is still being delivered, then the first answer', async () => {
    const tenant = await shardedTenant(2);
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const restore = await breakShard(tenant, 1, async (real, ...args) => {
      await gate;
      return real(...args);
    });
    const body = { data: 'slow', receivers: { sockets: ['*'] } };
    const first = keyedPush(tenant, 'slow-1', body);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const during = await keyedPush(tenant, 'slow-1', body);
    expect(during.status).toBe(409);
    expect(during.body.error.reason).toBe('idempotency_key_in_flight');
    expect(during.headers.get('retry-after')).toBe('1');
    release();
    expect((await first).status).toBe(201);
    await restore();
    expect((await keyedPush(tenant, 'slow-1', body)).body.id).toBe((await first).body.id);
  });

  it('completes a sharded push that failed part-way on the shards that missed it, and nowhere twice', async () => {
    const tenant = await shardedTenant(3);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const sockets = new Map<string, TestSocket>();
    for (const id of ids) sockets.set(id, await connectSocket(tenant, { id, tags: ['all'] }));
    const onShard = (k: number) => ids.filter((id) => shardOf(id, 3) === k);
    expect(onShard(1).length).toBeGreaterThan(0);
    expect(onShard(2).length).toBeGreaterThan(0);
    // Shard 1 delivers but its answer is lost; shard 2 fails outright.
    const restore1 = await breakShard(tenant, 1, (real, ...args) => {
      real(...args);
      throw new Error('answer lost');
    });
    const restore2 = await breakShard(tenant, 2, () => {
      throw new Error('shard down');
    });
    const body = { data: 'exactly once', receivers: { tags: ['all'] } };
    const failed = await keyedPush(tenant, 'broadcast-7', body);
    expect(failed.status).toBe(503);
    expect(failed.body.error.reason).toBe('partial_delivery');
    expect(failed.body.error.message).toContain('same Idempotency-Key');
    await restore1();
    await restore2();

    const retried = await keyedPush(tenant, 'broadcast-7', body);
    expect(retried.status).toBe(201);
    expect(retried.body.sent).toBe(ids.length);
    for (const [id, socket] of sockets) expect(await drain(socket), id).toEqual(['exactly once']);
    const replay = await keyedPush(tenant, 'broadcast-7', body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(retried.body);
  });
});
