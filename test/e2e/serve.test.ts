import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { groupMembers, ROOT, sleep, spawnServe, startServe, type Group, type Server } from '../support/launcher';

const ADMIN_TOKEN = 'e2e-admin-token';

/** A GET with headers that fetch will not send (Host), answered as status and parsed JSON (or the raw text). */
function get(origin: string, path: string, headers: Record<string, string>): Promise<{ status: number; contentType: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}${path}`, { headers, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON: keep the text so the assertion shows it.
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** One request over a raw socket: Node's fetch refuses CONNECT, TRACE and TRACK before sending them. */
function rawRequest(url: string, method: string, path: string): Promise<{ status: number; contentType: string | null; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`));
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (raw += chunk));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to ${method} ${path}`)));
    socket.on('close', () => {
      const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const contentType = /^content-type: *(.*)$/im.exec(head)?.[1]?.trim() ?? null;
      resolve({ status, contentType, body });
    });
  });
}

/** Output lines of a server that should have refused to start, once it has exited. */
async function refusal(group: Group): Promise<{ code: number | null; lines: string[] }> {
  await group.exited;
  await group.stop();
  return { code: group.child.exitCode, lines: group.output().trim().split('\n') };
}

describe('npm start (scripts/serve.mjs)', () => {
  let server: Server;
  const tenant = 'e2e';
  let tenantToken: string;
  const tenantHost = (): string => `${tenant}.localhost:${server.port}`;

  beforeAll(async () => {
    server = await startServe({ adminToken: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves the built Worker on workerd and answers GET /', async () => {
    const res = await fetch(`${server.origin}/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'MWS', tenant: null });
  });

  it('has the admin API enabled with ADMIN_TOKEN from the environment', async () => {
    const res = await fetch(`${server.origin}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: tenant }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { securityToken: string };
    expect(body).toMatchObject({ name: tenant, securityToken: expect.any(String) });
    tenantToken = body.securityToken;
  });

  it("serves each of the live console's files as it is in public/console/", async () => {
    const dir = join(ROOT, 'public', 'console');
    for (const file of readdirSync(dir)) {
      const res = await fetch(`${server.origin}/v1/gateways/${tenant}/console/${file}`);
      expect([file, res.status]).toEqual([file, 200]);
      expect(await res.text()).toBe(readFileSync(join(dir, file), 'utf8'));
    }
  });

  it('connects a WebSocket by its uri and delivers a push to it', async () => {
    const uri = await get(server.origin, '/v1/websocket_uri', { host: tenantHost(), authorization: `Bearer ${tenantToken}` });
    expect(uri.status).toBe(200);
    const ws = new WebSocket(uri.body.uri.replace(`${tenant}.localhost`, '127.0.0.1'), { headers: { host: tenantHost() } });
    const message = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const res = await fetch(`${server.origin}/v1/gateways/${tenant}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenantToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: 'through the front socket', receivers: { sockets: ['*'], tags: null } }),
    });
    expect(((await res.json()) as { sent: number }).sent).toBe(1);
    expect(await message).toBe('through the front socket');
    ws.close();
  });

  it('ignores MF-Original-URL from a client: a tenant host does not reach the admin API with it', async () => {
    const headers = { host: tenantHost(), authorization: `Bearer ${ADMIN_TOKEN}` };
    const plain = await get(server.origin, `/admin/tenants/${tenant}`, headers);
    const spoofed = await get(server.origin, `/admin/tenants/${tenant}`, { ...headers, 'mf-original-url': `http://127.0.0.1/admin/tenants/${tenant}` });
    expect(plain.status).toBe(404);
    expect(spoofed).toEqual(plain);
  });

  it('keeps the real host in connect URIs whatever MF-Original-URL says', async () => {
    const res = await get(server.origin, '/v1/websocket_uri', {
      host: tenantHost(),
      authorization: `Bearer ${tenantToken}`,
      'mf-original-url': 'http://attacker.example/v1/websocket_uri',
    });
    expect(res.status).toBe(200);
    expect(res.body.uri).toMatch(new RegExp(`^ws://${tenantHost()}/\\?token=`));
  });

  it('answers a malformed MF-CF-Blob (and other MF-* headers) as if they were not there, not with a plain-text 500', async () => {
    const res = await get(server.origin, '/', { 'mf-cf-blob': '{not json', 'mf-route-override': 'nowhere', 'mf-disable-pretty-error': '1' });
    expect(res.status).toBe(200);
    expect(res.contentType).toContain('application/json');
    expect(res.body).toMatchObject({ name: 'MWS', tenant: null });
  });

  it.each(['PATCH', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH'])('answers %s with the JSON envelope on every kind of path', async (method) => {
    for (const path of ['/', '/admin/tenants', '/v1/gateways/e2e/v1/messages', '/v1/gateways/e2e/no-such-path']) {
      const res = await rawRequest(server.origin, method, path);
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      expect(res.contentType).toContain('application/json');
      expect(JSON.parse(res.body).error.reason).toMatch(/method_not_allowed|not_found|tenant_not_found|unauthorized/);
    }
  });

  // CONNECT goes to a connect() handler, not fetch(): Miniflare's entry Worker (in front of ours in `npm start` and
  // `wrangler dev`) has none, so workerd answers 500; a Worker's own connect() could only accept a tunnel (200).
  // Method names workerd's HTTP parser does not know get its 501. Neither reaches MWS.
  it.each(['CONNECT', 'TRACK', 'FOO'])('leaves %s to the runtime, which refuses it before the Worker, and keeps serving', async (method) => {
    const res = await rawRequest(server.origin, method, '/');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect((await fetch(`${server.origin}/`)).status).toBe(200);
  });
});

describe('stopping npm start', () => {
  it('takes serve.mjs and workerd down when only the npm process gets SIGTERM, as a process manager sends it', async () => {
    const server = await startServe({ adminToken: ADMIN_TOKEN, via: 'npm' });
    try {
      const ours = () => groupMembers(server.pgid).filter((p) => /serve\.mjs|workerd/.test(p.command));
      expect(ours().length).toBeGreaterThanOrEqual(2);
      process.kill(server.pgid, 'SIGTERM'); // the npm process only, not its group
      const deadline = Date.now() + 5000;
      while (ours().length > 0 && Date.now() < deadline) await sleep(100);
      expect(ours()).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});

describe('npm start refuses to start with one clear line', () => {
  let holder: NetServer;
  let heldPort: number;

  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    heldPort = (holder.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  it('when the port is in use', async () => {
    const { code, lines } = await refusal(spawnServe({ adminToken: ADMIN_TOKEN, args: ['--port', String(heldPort)] }));
    expect(code).toBe(1);
    expect(lines).toEqual([`serve: port ${heldPort} is in use; pass --port <n> or stop the other server`]);
  });

  it('when the port is in use, started through npm as a user does, with no stack trace', async () => {
    const { code, lines } = await refusal(spawnServe({ adminToken: ADMIN_TOKEN, via: 'npm', args: ['--port', String(heldPort)] }));
    expect(code).not.toBe(0);
    expect(lines).toContain(`serve: port ${heldPort} is in use; pass --port <n> or stop the other server`);
    expect(lines.filter((line) => /^\s+at /.test(line))).toEqual([]);
  });

  it('without ADMIN_TOKEN', async () => {
    const { code, lines } = await refusal(spawnServe({ adminToken: '' }));
    expect(code).toBe(1);
    expect(lines).toEqual(['serve: set ADMIN_TOKEN in the environment (the operator token for /admin); refusing to start without one.']);
  });

  it('on an unknown option', async () => {
    const { code, lines } = await refusal(spawnServe({ adminToken: ADMIN_TOKEN, args: ['--prot', '9000'] }));
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^serve: Unknown option '--prot'/);
  });

  it('when the --persist-to directory cannot be created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mws-e2e-persist-'));
    try {
      writeFileSync(join(dir, 'file'), '');
      const target = join(dir, 'file', 'data');
      const { code, lines } = await refusal(spawnServe({ adminToken: ADMIN_TOKEN, args: ['--persist-to', target] }));
      expect(code).toBe(1);
      expect(lines).toEqual([`serve: cannot create the storage directory ${target} (--persist-to): a file is in the way`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
