import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN_BASE, ADMIN_TOKEN, api, connectSocket, hubStub, newTenant, push, type TestTenant } from './helpers';
import { connectV2Socket, drop, texts } from './v2-helpers';

const rows = (tenant: TestTenant) =>
  runInDurableObject(hubStub(tenant.name), (_i, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM history').one().n);

const configure = (tenant: TestTenant, history: unknown) => api('PUT', `${tenant.base}/v1/configuration`, { token: tenant.token, body: { history } });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('history settings', () => {
  it('shows the defaults, takes the tenant’s settings and refuses what exceeds the operator’s caps', async () => {
    const tenant = await newTenant();
    expect((await api('GET', `${tenant.base}/v1/configuration`, { token: tenant.token })).body.history).toEqual({ mode: 'auto', maxAgeSeconds: 120, maxMessages: 10000 });
    const set = await configure(tenant, { mode: 'always', maxAgeSeconds: 3600 });
    expect(set.status).toBe(200);
    expect(set.body.history).toEqual({ mode: 'always', maxAgeSeconds: 3600, maxMessages: 10000 });
    const over = await configure(tenant, { maxAgeSeconds: 90000, maxMessages: 200000 });
    expect(over.status).toBe(422);
    expect(over.body.errors.map((e: { property: string }) => e.property).sort()).toEqual(['history.maxAgeSeconds', 'history.maxMessages']);
  });

  it('validates history settings field by field', async () => {
    const tenant = await newTenant();
    const bad = await configure(tenant, { mode: 'never', maxAgeSeconds: 0, maxMessages: 1.5, extra: true });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { property: string }) => e.property).sort()).toEqual(['history.extra', 'history.maxAgeSeconds', 'history.maxMessages', 'history.mode']);
    expect((await configure(tenant, 'all of it')).status).toBe(422);
  });

  it('applies the operator’s lower cap over what the tenant asked', async () => {
    const tenant = await newTenant();
    await configure(tenant, { maxAgeSeconds: 3600 });
    const capped = await api('PUT', `${ADMIN_BASE}/admin/tenants/${tenant.name}/limits`, { token: ADMIN_TOKEN, body: { historyMaxAgeSeconds: 600 } });
    expect(capped.status).toBe(200);
    expect((await api('GET', `${tenant.base}/v1/configuration`, { token: tenant.token })).body.history.maxAgeSeconds).toBe(600);
  });

  it('records every push in always mode, even with only raw sockets', async () => {
    const tenant = await newTenant();
    await configure(tenant, { mode: 'always' });
    await connectSocket(tenant);
    for (let i = 0; i < 3; i++) await push(tenant, `m${i}`, { sockets: ['*'] });
    expect(await rows(tenant)).toBe(3);
  });

  it('trims by count in batches: at least maxMessages stay', async () => {
    const tenant = await newTenant();
    await configure(tenant, { mode: 'always', maxMessages: 20 });
    for (let i = 0; i < 60; i++) await push(tenant, `m${i}`, { sockets: ['*'] });
    const kept = await rows(tenant);
    expect(kept).toBeGreaterThanOrEqual(20);
    expect(kept).toBeLessThanOrEqual(20 + 16);
  });

  it('ages history out on the alarm when nothing else runs', async () => {
    const tenant = await newTenant();
    await configure(tenant, { mode: 'always', maxAgeSeconds: 1 });
    await push(tenant, 'soon gone', { sockets: ['*'] });
    expect(await rows(tenant)).toBe(1);
    await sleep(1100);
    // The alarm may already have run by itself (the keepalive interval is 1 s in tests); run it now if it is due.
    await runDurableObjectAlarm(hubStub(tenant.name));
    expect(await rows(tenant)).toBe(0);
  });
});

describe('history in auto mode', () => {
  it('keeps recording after the last mws.v2 socket left, so it can resume', async () => {
    const tenant = await newTenant();
    await connectSocket(tenant, { id: 'raw', tags: ['red'] });
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await drop(alice);
    await push(tenant, 'while away', { tags: ['red'] });
    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    expect(texts(await back.messages(1))).toEqual(['while away']);
  });

  it('stops recording maxAge after the last mws.v2 socket left, and a later resume is told the epoch changed', async () => {
    const tenant = await newTenant();
    await configure(tenant, { maxAgeSeconds: 1 });
    const alice = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] });
    await drop(alice);
    // maxAge (1 s) plus three keepalive sweeps (1 s each in tests).
    await sleep(4200);
    await push(tenant, 'unrecorded', { tags: ['red'] });
    expect(await rows(tenant)).toBe(0);
    const back = await connectV2Socket(tenant, { id: 'alice', tags: ['red'] }, alice.resumeParam());
    expect(await back.resumeFailed()).toMatchObject({ reason: 'epoch_changed' });
  });
});
