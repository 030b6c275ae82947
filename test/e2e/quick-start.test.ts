import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startWranglerDev, type Server } from '../support/launcher';

const run = promisify(execFile);
const ADMIN_TOKEN = 'e2e-admin-token';

/** Opens a ws client, resolving once open; collects messages and the close frame. */
function openSocket(uri: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(uri, { headers });
  const messages: string[] = [];
  let waiter: (() => void) | null = null;
  ws.on('message', (data) => {
    messages.push(data.toString());
    waiter?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const nextMessage = (timeoutMs = 5000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), timeoutMs);
      const check = () => {
        if (messages.length > 0) {
          clearTimeout(timer);
          waiter = null;
          resolve(messages.shift()!);
        } else waiter = check;
      };
      check();
    });
  return { ws, opened, closed, nextMessage };
}

/** curl resolves *.localhost to loopback by itself, as the README's quick start relies on. */
async function curl(args: string[]): Promise<{ status: number; body: any }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args], { timeout: 15_000 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) };
}

describe('the README quick start against a real `wrangler dev`', () => {
  let dev: Server;
  let tenantToken: string;
  const tenant = `e2e${Date.now().toString(36)}`;

  beforeAll(async () => {
    dev = await startWranglerDev({ vars: { ADMIN_TOKEN } });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it('creates a tenant with the admin token', async () => {
    const res = await curl(['-X', 'POST', '-H', `Authorization: Bearer ${ADMIN_TOKEN}`, '-d', JSON.stringify({ name: tenant }), `${dev.origin}/admin/tenants`]);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: tenant, accessControl: 'custom' });
    tenantToken = res.body.securityToken;
  });

  it('gets a uri on the tenant subdomain, connects with ws, and receives a message pushed with curl', async () => {
    const host = `${tenant}.localhost:${dev.port}`;
    const uriRes = await curl(['-H', `Authorization: Bearer ${tenantToken}`, `http://${host}/v1/websocket_uri`]);
    expect(uriRes.status).toBe(200);
    expect(uriRes.body.uri).toMatch(new RegExp(`^ws://${host}/\\?token=`));
    // Node's resolver does not know *.localhost: connect to loopback and name the tenant in the Host header.
    const socket = openSocket(uriRes.body.uri.replace(`${tenant}.localhost`, '127.0.0.1'), { host });
    await socket.opened;

    const pushed = await curl([
      '-X', 'POST', '-H', `Authorization: Bearer ${tenantToken}`,
      '-d', '{"data": "Hello World!", "receivers": {"sockets": ["*"], "tags": null}}',
      `http://${host}/v1/messages`,
    ]);
    expect(pushed.status).toBe(201);
    expect(pushed.body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('Hello World!');

    socket.ws.send('ping');
    expect(await socket.nextMessage()).toBe('pong');
    socket.ws.close(1000);
    expect((await socket.closed).code).toBe(1000);
  });

  it('routes by tags through the gateway prefix with plain fetch and ws', async () => {
    const base = `${dev.origin}/v1/gateways/${tenant}`;
    const auth = { authorization: `Bearer ${tenantToken}`, 'content-type': 'application/json' };
    const reserve = async (tags: string[]) => {
      const res = await fetch(`${base}/v1/sockets`, { method: 'POST', headers: auth, body: JSON.stringify({ tags }) });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; uri: string };
    };
    const red = openSocket((await reserve(['red'])).uri);
    const blue = openSocket((await reserve(['blue'])).uri);
    await Promise.all([red.opened, blue.opened]);
    const res = await fetch(`${base}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ data: 'reds only', receivers: { tags: ['red'] } }) });
    expect(((await res.json()) as { sent: number }).sent).toBe(1);
    expect(await red.nextMessage()).toBe('reds only');
    await expect(blue.nextMessage(500)).rejects.toThrow(/timed out/);
    const list = (await (await fetch(`${base}/v1/sockets`, { headers: auth })).json()) as { results: unknown[] };
    expect(list.results).toHaveLength(2);
    red.ws.close();
    blue.ws.close();
  });

  it('answers the product document\'s invalid curl example with a 422, not a 500', async () => {
    const seedBody = '{"data": "Hello World!", \\\n        "receivers": {"sockets": ["*"], tags: null} \\\n        }';
    const res = await curl(['-X', 'POST', '-H', `Authorization: Bearer ${tenantToken}`, '-d', seedBody, `http://${tenant}.localhost:${dev.port}/v1/messages`]);
    expect(res.status).toBe(422);
    expect(res.body.errors[0].reason).toBe('invalid_json');
  });
});
