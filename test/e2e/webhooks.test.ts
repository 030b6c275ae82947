import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebhookPayload } from '../../sdk/src/protocol';
import { startServe, type Server as MwsServer } from '../support/launcher';

const ADMIN_TOKEN = 'e2e-webhooks-admin';
const SOCKETS = 200;
const OUTAGE_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Post {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback that can be killed (connections refused) and brought back on the same port. */
class Receiver {
  readonly posts: Post[] = [];
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    const server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      this.posts.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function call(origin: string, method: string, url: string, token: string, body?: unknown): Promise<any> {
  const res = await fetch(`${origin}${url}`, { method, headers: { authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} -> ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Connects a socket with this id and resolves once it is open. */
async function openSocket(origin: string, token: string, id: string): Promise<WebSocket> {
  const { uri } = await call(origin, 'POST', '/v1/gateways/hooks/v1/sockets', token, { id, tags: ['room'] });
  const ws = new WebSocket(uri);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

async function closeSocket(ws: WebSocket): Promise<void> {
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close(1000, 'bye');
  await closed;
}

describe('webhooks against npm start', () => {
  const receiver = new Receiver();
  const storage = mkdtempSync(path.join(os.tmpdir(), 'mws-webhooks-'));
  let mws: MwsServer | null = null;
  const serve = (args: string[]) => startServe({ adminToken: ADMIN_TOKEN, via: 'npm', args: ['--persist-to', storage, ...args], env: { ALLOW_HTTP_WEBHOOKS: 'true' }, timeoutMs: 120_000 });

  afterAll(async () => {
    await mws?.stop();
    await receiver.stop();
    rmSync(storage, { recursive: true, force: true });
  });

  it(
    'delivers every event at least once through a 30 s receiver outage and a restart of the service, signed, in order per socket',
    async () => {
      await receiver.start();
      mws = await serve([]);
      const tenant = await call(mws.origin, 'POST', '/admin/tenants', ADMIN_TOKEN, { name: 'hooks' });
      const token: string = tenant.securityToken;
      const hook = await call(mws.origin, 'POST', '/v1/gateways/hooks/v1/webhooks', token, {
        url: `http://127.0.0.1:${receiver.port}/mws`,
        events: ['socket.connected', 'socket.disconnected'],
      });

      await receiver.stop();
      const outageStarted = Date.now();
      const ids = Array.from({ length: SOCKETS }, (_, i) => `s${i}`);
      const kept: WebSocket[] = [];
      for (const id of ids.slice(0, SOCKETS / 2)) {
        const ws = await openSocket(mws.origin, token, id);
        if (Number(id.slice(1)) >= SOCKETS / 2 - 20) kept.push(ws);
        else await closeSocket(ws);
      }
      await sleep(500);
      // The service restarts with 20 sockets open: the restart drops them, and must report them.
      await mws.stop();
      mws = await serve(['--no-build']);
      for (const id of ids.slice(SOCKETS / 2)) await closeSocket(await openSocket(mws.origin, token, id));
      await sleep(Math.max(0, outageStarted + OUTAGE_MS - Date.now()));
      await receiver.start();

      const verifier = new Webhook(hook.secret);
      const events = () => {
        const byId = new Map<string, { type: string; socket: string; closedBy?: string; webhookId: string }>();
        for (const post of receiver.posts) {
          const payload = verifier.verify(post.body, post.headers as Record<string, string>) as WebhookPayload;
          for (const event of payload.events) {
            if (!byId.has(event.id)) byId.set(event.id, { type: event.type, socket: (event.data as { id: string }).id, closedBy: (event.data as { closedBy?: string }).closedBy, webhookId: String(post.headers['webhook-id']) });
          }
        }
        return [...byId.values()];
      };
      const complete = () => {
        const seen = events();
        return ids.every((id) => ['socket.connected', 'socket.disconnected'].every((type) => seen.some((e) => e.socket === id && e.type === type)));
      };
      const deadline = Date.now() + 150_000;
      while (!complete() && Date.now() < deadline) await sleep(500);
      expect(complete()).toBe(true);

      // Duplicates only as repeated webhook-ids: a webhook-id always carries the same body, and an event one webhook-id.
      const bodies = new Map<string, string>();
      const homes = new Map<string, string>();
      for (const post of receiver.posts) {
        const webhookId = String(post.headers['webhook-id']);
        expect(bodies.get(webhookId) ?? post.body).toBe(post.body);
        bodies.set(webhookId, post.body);
        for (const event of (JSON.parse(post.body) as WebhookPayload).events) {
          expect(homes.get(event.id) ?? webhookId).toBe(webhookId);
          homes.set(event.id, webhookId);
        }
      }
      const unique = events();
      for (const id of ids) {
        const mine = unique.filter((e) => e.socket === id);
        expect(mine.map((e) => e.type), id).toEqual(['socket.connected', 'socket.disconnected']);
      }
      for (const id of ids.slice(SOCKETS / 2 - 20, SOCKETS / 2)) {
        expect(['restart', 'client']).toContain(unique.find((e) => e.socket === id && e.type === 'socket.disconnected')!.closedBy);
      }
      const deliveries = await call(mws.origin, 'GET', `/v1/gateways/hooks/v1/webhooks/${hook.id}/deliveries`, token);
      expect(deliveries.backlog).toBe(0);
      expect(deliveries.results.some((d: { error: string | null }) => d.error !== null)).toBe(true);
      const restarted = unique.filter((e) => e.closedBy === 'restart').length;
      const largest = Math.max(...receiver.posts.map((p) => (JSON.parse(p.body) as WebhookPayload).events.length));
      console.log(`webhooks e2e: ${receiver.posts.length} POSTs, ${unique.length} events, largest batch ${largest}, ${restarted} closed by the restart`);
    },
    300_000,
  );
});
