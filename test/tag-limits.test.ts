import { runInDurableObject } from 'cloudflare:test';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { TenantHub } from '../src/hub/tenant-hub';
import { api, connect, hubStub, newTenant, push, type TestTenant } from './helpers';

const bytes = (s: string) => new TextEncoder().encode(s).length;
const encoder = new TextEncoder();

/** The longest tag the platform lets a socket carry (256 bytes per hibernation tag, `tag:` included), in four scripts. */
const fits = ['a'.repeat(252), 'é'.repeat(126), '中'.repeat(84), '😀'.repeat(63)];
/** One byte (or character) too many, and the tags of the report: 128 characters but over 252 bytes. */
const overflows = ['a'.repeat(253), 'é'.repeat(127), 'é'.repeat(128), '中'.repeat(85), '😀'.repeat(64)];

describe('tags are measured in UTF-8 bytes, as the platform counts them', () => {
  it('counts the test tags as intended', () => {
    expect(fits.map(bytes)).toEqual([252, 252, 252, 252]);
    expect(overflows.every((t) => bytes(t) > 252)).toBe(true);
  });

  it.each(fits.map((t) => [`${t.slice(0, 2)} x ${[...t].length}`, t]))('reserves, connects and pushes to a tag of 252 bytes (%s)', async (_, tag) => {
    const tenant = await newTenant();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { tags: [tag] } });
    expect(reserved.status).toBe(201);
    const socket = await connect(reserved.body.uri);
    expect((await push(tenant, 'hello', { tags: [tag] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('hello');
  });

  it.each(overflows.map((t) => [`${t.slice(0, 2)} x ${[...t].length}`, t]))('refuses a tag over 252 bytes (%s) at reservation and in a push with 422 too_long', async (_, tag) => {
    const tenant = await newTenant();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { tags: [tag] } });
    expect(reserved.status).toBe(422);
    expect(reserved.body.errors).toEqual([{ reason: 'too_long', property: 'tags[0]', message: expect.stringContaining('252 bytes') }]);
    const pushed = await push(tenant, 'x', { tags: [tag] });
    expect(pushed.status).toBe(422);
    expect(pushed.body.errors[0]).toMatchObject({ reason: 'too_long', property: 'receivers.tags[0]' });
  });
});

describe('tags in connect tokens a backend mints', () => {
  async function mintFor(tenant: TestTenant, claims: Record<string, unknown>): Promise<string> {
    const key = (await api('POST', `${tenant.base}/v1/signing-keys`, { token: tenant.token })).body as { kid: string; secret: string };
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.kid }).setAudience(tenant.name).setJti(crypto.randomUUID()).setExpirationTime('2m').sign(encoder.encode(key.secret));
  }

  it('connects a minted token whose tag is 252 bytes', async () => {
    const tenant = await newTenant();
    const socket = await connect(`${tenant.base}/?token=${await mintFor(tenant, { sid: 'wide', tags: ['中'.repeat(84)] })}`);
    expect((await push(tenant, 'hi', { tags: ['中'.repeat(84)] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('hi');
  });

  it.each(overflows.map((t) => [`${t.slice(0, 2)} x ${[...t].length}`, t]))('closes a minted token whose tag is over 252 bytes (%s) with 4401 invalid_claims, never a 500', async (_, tag) => {
    const tenant = await newTenant();
    const socket = await connect(`${tenant.base}/?token=${await mintFor(tenant, { tags: [tag] })}`);
    const closed = await socket.closed();
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain('invalid_claims');
  });
});

describe('the subject tag of an end user', () => {
  const SECRET = 'an-hs256-secret-of-at-least-32-characters!';

  async function userTenant(): Promise<TestTenant> {
    const tenant = await newTenant();
    const res = await api('PUT', `${tenant.base}/v1/configuration`, {
      token: tenant.token,
      body: { accessControl: 'jwt', jwt: { secret: SECRET, policy: { read: ['*'], write: [] } } },
    });
    expect(res.status).toBe(200);
    return tenant;
  }
  const userToken = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(encoder.encode(SECRET));

  it('connects a user whose "user:<sub>" tag is 251 bytes', async () => {
    const tenant = await userTenant();
    const sub = '中'.repeat(82);
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await userToken(sub) });
    expect(res.status).toBe(200);
    const socket = await connect(res.body.uri);
    expect((await push(tenant, 'to you', { tags: [`user:${sub}`] })).body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('to you');
  });

  it('refuses a user whose sub cannot be a tag with 401 invalid_claims, before spending a token', async () => {
    const tenant = await userTenant();
    const res = await api('GET', `${tenant.base}/v1/websocket_uri`, { token: await userToken('中'.repeat(83)) });
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual({ reason: 'invalid_claims', message: expect.stringContaining('sub') });
  });
});

describe('an upgrade the platform refuses', () => {
  it('is closed with 1011, never answered with a 500', async () => {
    const tenant = await newTenant();
    const secret = 'legacy-reservation-secret';
    // A reservation made before tags were measured in bytes: the platform refuses its hibernation tag.
    await runInDurableObject(hubStub(tenant.name) as DurableObjectStub<TenantHub>, (hub: TenantHub) => hub.shardReserve(secret, { id: 'legacy', tags: ['é'.repeat(128)], user: null }, Date.now() + 60_000));
    const socket = await connect(`${tenant.base}/?token=${secret}`);
    expect((await socket.closed()).code).toBe(1011);
  });
});
