import { describe, expect, it } from 'vitest';
import { api, connect, newTenant, push } from './helpers';
import { connectV2, connectV2Socket, drop, texts, type V2TestSocket } from './v2-helpers';

/** A tenant where `alice` (tag red) dropped after message 1 and missed messages 2 and 3. */
async function missedTwo() {
  const tenant = await newTenant();
  const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
  await push(tenant, 'seen', { tags: ['red'] });
  await alice.messages(1);
  await drop(alice);
  await push(tenant, 'missed 1', { tags: ['red'] });
  await push(tenant, 'missed 2', { sockets: ['*'] });
  return { tenant, alice, position: alice.resumeParam() };
}

/** The socket was told the resume failed, for `reason`, and got nothing replayed; live messages still come. */
async function refused(socket: V2TestSocket, reason: string, tenant: Awaited<ReturnType<typeof missedTwo>>['tenant']): Promise<void> {
  expect((await socket.hello()).resumed).toBe(false);
  expect(await socket.resumeFailed()).toMatchObject({ reason });
  await push(tenant, 'live', { sockets: ['*'] });
  expect(texts(await socket.messages(1))).toEqual(['live']);
}

describe('resume positions', () => {
  it('refuses a position that is not one (garbage, or a token cut short)', async () => {
    const { tenant, position } = await missedTwo();
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, 'garbage'), 'invalid_position', tenant);
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, position.slice(0, -3)), 'invalid_position', tenant);
  });

  it('refuses a forged token: the payload or its signature altered', async () => {
    const { tenant, position } = await missedTwo();
    const [seq, payload, mac] = position.split('.') as [string, string, string];
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as unknown[];
    claims[5] = 'AAAAAAAAAAAAAAAA'; // claims other tags
    const forged = btoa(JSON.stringify(claims)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, `${seq}.${forged}.${mac}`), 'invalid_position', tenant);
    const flipped = mac.startsWith('A') ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, `${seq}.${payload}.${flipped}`), 'invalid_position', tenant);
  });

  it('refuses a position ahead of the stream or before the socket first connected', async () => {
    const { tenant, position } = await missedTwo();
    const token = position.slice(position.indexOf('.') + 1);
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, `99.${token}`), 'invalid_position', tenant);
    const late = await connectV2Socket(tenant, { id: 'late', tags: ['red'] });
    const lateToken = (await late.hello()).resume;
    await drop(late);
    await refused(await connectV2Socket(tenant, { id: 'late', tags: ['red'] }, `0.${lateToken}`), 'invalid_position', tenant);
  });

  it("refuses another socket's position", async () => {
    const { tenant, position } = await missedTwo();
    await refused(await connectV2Socket(tenant, { id: 'mallory', tags: ['red'] }, position), 'other_socket', tenant);
  });

  it('refuses a position when the connection has other tags than the one it came from', async () => {
    const { tenant, position } = await missedTwo();
    await refused(await connectV2Socket(tenant, { id: 'alice', tags: ['red', 'admin'] }, position), 'tags_changed', tenant);
  });

  it("refuses another tenant's position for the same socket id", async () => {
    const { position } = await missedTwo();
    const other = await newTenant();
    await push(other, 'theirs', { sockets: ['*'] });
    await refused(await connectV2Socket(other, { id: 'alice', tags: ['red'] }, position), 'invalid_position', other);
  });

  it('ignores a resume parameter on a raw connection: it stays raw', async () => {
    const { tenant, position } = await missedTwo();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'alice', tags: ['red'] } });
    const raw = await connect(`${reserved.body.uri}&resume=${encodeURIComponent(position)}`);
    await push(tenant, 'plain', { tags: ['red'] });
    expect(await raw.nextMessage()).toBe('plain');
    expect(await raw.receivesWithin(100)).toBe(false);
  });

  it('accepts the same position twice: a second drop during the replay resumes again', async () => {
    const { tenant, position } = await missedTwo();
    const first = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, position);
    expect(texts(await first.messages(2))).toEqual(['missed 1', 'missed 2']);
    await drop(first);
    const second = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, position);
    expect(texts(await second.messages(2))).toEqual(['missed 1', 'missed 2']);
    const third = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, second.resumeParam());
    expect((await third.hello()).resumed).toBe(true);
    expect(await third.quietFor(100)).toBe(true);
  });

  it('answers mws.v2 on a refused upgrade too, so a browser that offered it sees the close code', async () => {
    const tenant = await newTenant();
    const reserved = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: { id: 'once' } });
    const first = await connectV2(reserved.body.uri);
    await first.hello();
    const again = await connectV2(reserved.body.uri);
    expect(again.protocol).toBe('mws.v2');
    expect(await again.closed()).toMatchObject({ code: 4401 });
  });
});
