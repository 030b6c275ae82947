import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MwsBackend, MwsClient, type MwsClientEvents } from '../../sdk/src/index';
import { startServe, type Server } from '../support/launcher';

const ADMIN_TOKEN = 'e2e-resume-admin-token';
const MESSAGES = 1000;
const KILLS = 10;

/** The `ws` class, remembering the last socket it opened, so a test can cut its TCP connection. */
let current: WebSocket | null = null;
class KillableWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    current = this;
  }
}
const killTcp = (): void => (current as unknown as { _socket?: { destroy(): void } } | null)?._socket?.destroy();

async function createTenant(origin: string, name: string): Promise<string> {
  const res = await fetch(`${origin}/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ name }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { securityToken: string }).securityToken;
}

/** A v2 client whose every reconnect asks the backend at `origin()` for a fresh uri, recording what it receives. */
function resumingClient(backend: () => MwsBackend) {
  const received: string[] = [];
  const failures: MwsClientEvents['recoveryFailed'][] = [];
  const client = new MwsClient({
    getUri: async () => (await backend().createSocket({ id: 'phone', tags: ['feed'] })).uri,
    WebSocket: KillableWebSocket,
    reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
    pingIntervalMs: 5000,
  });
  client.on('message', ({ data }) => received.push(data));
  client.on('recoveryFailed', (event) => failures.push(event));
  return { client, received, failures };
}

async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const expected = Array.from({ length: MESSAGES }, (_, i) => `m${i}`);

describe('resume end to end (SDK against npm start)', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServe({ adminToken: ADMIN_TOKEN, via: 'npm' });
  });
  afterAll(() => server?.stop());

  it('delivers 1,000 messages exactly once and in order while the TCP connection is killed 10 times', async () => {
    const token = await createTenant(server.origin, 'resume-kills');
    const backend = new MwsBackend({ baseUrl: `${server.origin}/v1/gateways/resume-kills`, securityToken: token });
    const { client, received, failures } = resumingClient(() => backend);
    const opens: MwsClientEvents['open'][] = [];
    client.on('open', (event) => opens.push(event));
    client.connect();
    await until(() => opens.length === 1, 10_000, () => 'the first open');
    const killAt = new Set<number>();
    while (killAt.size < KILLS) killAt.add(1 + Math.floor(Math.random() * (MESSAGES - 2)));
    let kills = 0;
    for (let i = 0; i < MESSAGES; i++) {
      if (killAt.has(i)) {
        // Each kill cuts a live connection, one that said hello (the socket opens before its hello arrives): pushes
        // go on while the client is away and reconnecting.
        await until(() => client.state === 'open' && opens.length === kills + 1, 10_000, () => 'the client to be open again');
        killTcp();
        kills++;
      }
      await backend.push(`m${i}`, { tags: ['feed'] });
    }
    await until(() => received.length >= MESSAGES, 30_000, () => `${MESSAGES} messages (have ${received.length})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    client.close();
    expect(failures).toEqual([]);
    expect(received).toEqual(expected);
    expect(opens.slice(1).map((o) => o.resumed)).toEqual(Array(KILLS).fill(true));
  });
});

describe('resume across a restart of npm start --persist-to', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mws-resume-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loses nothing when the server restarts halfway, with pushes on both sides of the restart', async () => {
    let server = await startServe({ adminToken: ADMIN_TOKEN, via: 'npm', args: ['--persist-to', dir] });
    try {
      const token = await createTenant(server.origin, 'resume-restart');
      let backend = new MwsBackend({ baseUrl: `${server.origin}/v1/gateways/resume-restart`, securityToken: token });
      const { client, received, failures } = resumingClient(() => backend);
      const opened = new Promise((resolve) => client.on('open', resolve));
      client.connect();
      await opened;
      for (let i = 0; i < MESSAGES / 2; i++) await backend.push(`m${i}`, { tags: ['feed'] });
      await server.stop();
      server = await startServe({ adminToken: ADMIN_TOKEN, via: 'npm', args: ['--persist-to', dir, '--no-build'] });
      backend = new MwsBackend({ baseUrl: `${server.origin}/v1/gateways/resume-restart`, securityToken: token });
      for (let i = MESSAGES / 2; i < MESSAGES; i++) await backend.push(`m${i}`, { tags: ['feed'] });
      await until(() => received.length >= MESSAGES, 60_000, () => `${MESSAGES} messages (have ${received.length})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      client.close();
      expect(failures).toEqual([]);
      expect(received).toEqual(expected);
    } finally {
      await server.stop();
    }
  });
});
