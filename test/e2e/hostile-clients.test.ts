import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MwsClient } from '../../sdk/src/index';
// @ts-expect-error plain ES module shared with the soak script and the benchmark
import { lostAndDuplicated, openHealthyClient, openRawSocket, workerdRssMiB } from '../../bench/clients.mjs';

const ROOT = path.resolve(__dirname, '..', '..');
const ADMIN_TOKEN = 'e2e-hostile-admin-token';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Boots `npm start` (scripts/serve.mjs) on a free port with ephemeral storage. */
function startServe(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'serve.mjs'), '--port', '0', '--ephemeral'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ADMIN_TOKEN, WRANGLER_SEND_METRICS: 'false' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code} before listening`)));
  });
}

describe('hostile and faulty clients against npm start', () => {
  let server: { child: ChildProcess; url: string };
  const call = async (method: string, url: string, body?: unknown, token?: string) => {
    const res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const createTenant = async (name: string, options: object) => {
    const res = await call('POST', `${server.url}/admin/tenants`, { name, ...options }, ADMIN_TOKEN);
    expect(res.status).toBe(201);
    return { base: `${server.url}/v1/gateways/${name}`, token: res.body.securityToken as string };
  };

  beforeAll(async () => {
    server = await startServe();
  });

  afterAll(() => {
    if (server?.child.pid !== undefined) {
      try {
        process.kill(-server.child.pid, 'SIGTERM');
      } catch {
        // already exited
      }
    }
  });

  it('closes clients that stop reading with 4008, keeps workerd within 64 MiB of its baseline, and healthy clients get every message in order', async () => {
    const tenant = await createTenant('stuck', { accessControl: 'none' });
    const anonymousUri = async () => (await call('GET', `${tenant.base}/v1/websocket_uri`)).body.uri as string;
    const healthy = await Promise.all(Array.from({ length: 10 }, async () => openHealthyClient(await anonymousUri())));
    // The same traffic first without stuck clients, so the baseline is workerd's memory under that load.
    const warm = 'w'.repeat(512 * 1024);
    for (let i = 0; i < 100; i++) await call('POST', `${tenant.base}/v1/messages`, { data: warm, receivers: { sockets: ['*'] } });
    await sleep(500);
    const baseline = workerdRssMiB(server.child.pid);

    const stuck = await Promise.all(Array.from({ length: 10 }, async () => openRawSocket(await anonymousUri(), { reading: false })));
    const data = 'x'.repeat(512 * 1024);
    let peak = baseline;
    for (let i = 0; i < 100; i++) {
      const res = await call('POST', `${tenant.base}/v1/messages`, { data: `${i}|${data}`, receivers: { sockets: ['*'] } });
      expect(res.status).toBe(201);
      peak = Math.max(peak, workerdRssMiB(server.child.pid));
    }
    await sleep(1000);
    peak = Math.max(peak, workerdRssMiB(server.child.pid));
    expect(peak - baseline).toBeLessThan(64);

    for (const client of healthy) {
      await expect.poll(() => client.messages.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(200);
      expect(lostAndDuplicated(client.messages.slice(100), 100)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
      expect(client.closeCode).toBeNull();
    }
    for (const raw of stuck) raw.resume();
    await Promise.all(stuck.map((raw: any) => raw.until(() => raw.closeFrame !== null, 20_000, 'the close frame')));
    for (const raw of stuck) expect(raw.closeFrame.code).toBe(4008);
    for (const raw of stuck) raw.destroy();
  });

  it('keeps an SDK client in raw mode that reads a stream faster than 512 KiB/s connected, with every message', async () => {
    const tenant = await createTenant('fast-reader', { accessControl: 'none' });
    const client = new MwsClient({
      getUri: async () => (await call('GET', `${tenant.base}/v1/websocket_uri`)).body.uri as string,
      WebSocket,
      protocol: 'raw',
    });
    const received: string[] = [];
    const closes: number[] = [];
    client.on('message', ({ data }) => received.push(data));
    client.on('close', ({ code }) => closes.push(code));
    const opened = new Promise((resolve) => client.on('open', resolve));
    client.connect();
    await opened;
    // A steady 2.5 MiB/s for 2.4 s: 6 MiB, where a raw socket that never shows it reads may take 2 MiB plus 512 KiB/s.
    const data = 'f'.repeat(128 * 1024);
    const pushes = 48;
    for (let i = 0; i < pushes; i++) {
      const res = await call('POST', `${tenant.base}/v1/messages`, { data: `${i}|${data}`, receivers: { sockets: ['*'] } });
      expect(res.body.sent).toBe(1);
      await sleep(50);
    }
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(pushes);
    expect(received.map((m) => Number(m.slice(0, m.indexOf('|'))))).toEqual(Array.from({ length: pushes }, (_, i) => i));
    expect(closes).toEqual([]);
    client.close();
  });

  it('lets a new client in at once after the backend removed one that never answers the close', async () => {
    const tenant = await createTenant('silent', { limits: { maxSockets: 1 } });
    const reserve = async (id: string) => (await call('POST', `${tenant.base}/v1/sockets`, { id }, tenant.token)).body.uri as string;
    const silent = await openRawSocket(await reserve('silent'), { answerClose: false });
    expect((await call('DELETE', `${tenant.base}/v1/sockets/silent`, undefined, tenant.token)).status).toBe(200);
    await silent.until(() => silent.closeFrame !== null, 5000, 'the close frame');

    const next = await openHealthyClient(await reserve('next'), { pingEveryBytes: 0 });
    const pushed = await call('POST', `${tenant.base}/v1/messages`, { data: '0|hello', receivers: { sockets: ['*'] } }, tenant.token);
    expect(pushed.body.sent).toBe(1);
    await expect.poll(() => next.messages).toEqual(['0|hello']);
    expect(silent.ended).toBe(false);
    silent.destroy();
    next.ws.close();
  });
});
