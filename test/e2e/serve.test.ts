import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const ADMIN_TOKEN = 'e2e-admin-token';

/** Boots `scripts/serve.mjs` (what `npm start` runs) on a free port and resolves with its URL. */
function startServe(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'serve.mjs'), '--port', '0', '--ephemeral'], {
    cwd: ROOT,
    detached: true, // its own process group, so workerd goes down with it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ADMIN_TOKEN, WRANGLER_SEND_METRICS: 'false' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.stderr!.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code} before listening:\n${err}`)));
  });
}

describe('npm start (scripts/serve.mjs)', () => {
  let server: { child: ChildProcess; url: string };

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

  it('serves the built Worker on workerd and answers GET /', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'MWS', tenant: null });
  });

  it('has the admin API enabled with ADMIN_TOKEN from the environment', async () => {
    const res = await fetch(`${server.url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e' }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: 'e2e', securityToken: expect.any(String) });
  });
});
