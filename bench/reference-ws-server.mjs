#!/usr/bin/env node
/**
 * A minimal reference push server in Node with `ws`: the routes of MWS that the benchmark uses, with the same
 * request and response shapes, and id/tag routing. Each push encodes its data once (one Buffer shared by
 * every send), so the per-delivery cost is ws's framing and the socket write.
 *
 *   POST /admin/tenants {"name"}                        Bearer ADMIN_TOKEN  -> 201 {name, securityToken}
 *   POST /v1/gateways/:tenant/v1/sockets {"id"?,"tags"?} Bearer token      -> 201 {id, uri, expiresAt, tags}
 *   GET  /v1/gateways/:tenant/?token=...                 WebSocket upgrade (single-use token)
 *   POST /v1/gateways/:tenant/v1/messages {"data","receivers":{"sockets","tags"}} -> 201 {id, data, receivers, sent}
 *
 * Usage: ADMIN_TOKEN=... node bench/reference-ws-server.mjs [--port <n>]  prints `ws-reference listening on <url>`.
 * Not a product: no persistence, no limits beyond what the benchmark needs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const TOKEN_TTL_MS = 300_000;
const MAX_BODY_BYTES = 1024 * 1024;
const GATEWAY = /^\/v1\/gateways\/([a-z0-9-]+)(\/.*)$/;

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const adminToken = process.env.ADMIN_TOKEN;
if (!adminToken) {
  console.error('reference-ws-server: set ADMIN_TOKEN');
  process.exit(1);
}

class HttpError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

/** One tenant's state: its token, pending reservations and the sockets indexed by id and by tag. */
class Tenant {
  constructor(name) {
    this.name = name;
    this.securityToken = `mws_${randomBytes(32).toString('base64url')}`;
    /** @type {Map<string, {id: string, tags: string[], expiresAt: number}>} */
    this.reservations = new Map();
    /** @type {Set<import('ws').WebSocket>} */
    this.sockets = new Set();
    /** @type {Map<string, Set<import('ws').WebSocket>>} */
    this.byId = new Map();
    /** @type {Map<string, Set<import('ws').WebSocket>>} */
    this.byTag = new Map();
  }

  add(ws, id, tags) {
    for (const older of this.byId.get(id) ?? []) older.close(4002, 'replaced');
    this.sockets.add(ws);
    index(this.byId, id, ws);
    for (const tag of tags) index(this.byTag, tag, ws);
    ws.once('close', () => {
      this.sockets.delete(ws);
      unindex(this.byId, id, ws);
      for (const tag of tags) unindex(this.byTag, tag, ws);
    });
  }

  receivers({ sockets, tags }) {
    if (sockets?.includes('*')) return this.sockets;
    const out = new Set();
    for (const id of sockets ?? []) for (const ws of this.byId.get(id) ?? []) out.add(ws);
    for (const tag of tags ?? []) for (const ws of this.byTag.get(tag) ?? []) out.add(ws);
    return out;
  }
}

function index(map, key, ws) {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(ws);
}

function unindex(map, key, ws) {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(ws);
  if (set.size === 0) map.delete(key);
}

/** @type {Map<string, Tenant>} */
const tenants = new Map();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, 'payload_too_large'));
      else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'invalid_json'));
      }
    });
    req.on('error', reject);
  });
}

function bearer(req, expected) {
  const header = req.headers.authorization ?? '';
  if (header !== `Bearer ${expected}`) throw new HttpError(401, 'unauthorized');
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function tenantFor(name) {
  const tenant = tenants.get(name);
  if (tenant === undefined) throw new HttpError(404, 'tenant_not_found');
  return tenant;
}

async function route(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (req.method === 'GET' && url.pathname === '/') return send(res, 200, { name: 'ws-reference' });
  if (req.method === 'POST' && url.pathname === '/admin/tenants') {
    bearer(req, adminToken);
    const { name } = await readJson(req);
    if (typeof name !== 'string' || tenants.has(name)) throw new HttpError(409, 'tenant_exists');
    const tenant = new Tenant(name);
    tenants.set(name, tenant);
    return send(res, 201, { name, securityToken: tenant.securityToken, accessControl: 'custom' });
  }
  const gateway = GATEWAY.exec(url.pathname);
  if (gateway === null || req.method !== 'POST') throw new HttpError(404, 'not_found');
  const [, name, rest] = gateway;
  const tenant = tenantFor(name);
  bearer(req, tenant.securityToken);
  const body = await readJson(req);
  if (rest === '/v1/sockets') {
    const id = typeof body.id === 'string' ? body.id : randomUUID();
    const tags = Array.isArray(body.tags) ? [...new Set(body.tags.map(String))] : [];
    const token = randomBytes(32).toString('base64url');
    const expiresAt = Date.now() + TOKEN_TTL_MS;
    tenant.reservations.set(token, { id, tags, expiresAt });
    const uri = `ws://${req.headers.host}/v1/gateways/${name}/?token=${token}`;
    return send(res, 201, { id, uri, expiresAt: new Date(expiresAt).toISOString(), tags });
  }
  if (rest === '/v1/messages') {
    if (typeof body.data !== 'string' || typeof body.receivers !== 'object' || body.receivers === null) {
      throw new HttpError(400, 'invalid_request');
    }
    const frame = Buffer.from(body.data, 'utf8'); // encoded once, shared by every send
    let sent = 0;
    for (const ws of tenant.receivers(body.receivers)) {
      if (ws.readyState !== ws.OPEN) continue;
      ws.send(frame, { binary: false });
      sent++;
    }
    return send(res, 201, { id: randomUUID(), data: body.data, receivers: body.receivers, sent });
  }
  throw new HttpError(404, 'not_found');
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) console.error(err);
    send(res, status, { error: { reason: err.message } });
  });
});
server.keepAliveTimeout = 60_000;

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const gateway = GATEWAY.exec(url.pathname);
  const tenant = gateway === null ? undefined : tenants.get(gateway[1]);
  const token = url.searchParams.get('token') ?? '';
  const reservation = tenant?.reservations.get(token);
  if (tenant === undefined || reservation === undefined || reservation.expiresAt <= Date.now()) {
    socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
    return;
  }
  tenant.reservations.delete(token);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => {
      if (data.length === 4 && data.toString() === 'ping') ws.send('pong');
    });
    ws.on('error', () => ws.terminate());
    tenant.add(ws, reservation.id, reservation.tags);
  });
});

const stop = () => {
  for (const tenant of tenants.values()) for (const ws of tenant.sockets) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`ws-reference listening on http://127.0.0.1:${server.address().port}`);
});
