import { DurableObject } from 'cloudflare:workers';
import { CloseCode, closeQuietly } from './close-codes';
import { readConfig, type Config } from './config';
import { ApiError, settle, type Outcome } from './errors';
import { isStale, nextSweepAt } from './keepalive';
import { hibernationTags, resolveReceivers, socketIdTag } from './receivers';
import { hashToken, matchesStoredHash, randomToken } from './tokens';
import type { AccessControl, PushRequest, SocketRequest } from './validation';

/** What a tenant object stores about itself. Security tokens are kept only as SHA-256 hashes, newest first. */
interface TenantRecord {
  name: string;
  accessControl: AccessControl;
  createdAt: number;
  securityTokenHashes: string[];
}

/** Kept on each hibernatable socket; survives eviction. Small by design (the platform allows 2 KiB). */
interface SocketAttachment {
  id: string;
  tags: string[];
  connectedAt: number;
}

export interface SocketInfo {
  id: string;
  connectedAt: string;
  tags: string[];
}

export interface Reservation {
  id: string;
  tags: string[];
  token: string;
  expiresAt: string;
}

export interface TenantInfo {
  name: string;
  accessControl: AccessControl;
  createdAt: string;
  securityTokens: number;
  sockets: number;
}

/** Who may do what: `connect` and `push` are public in `none` mode, `manage` always needs the security token. */
export type Action = 'connect' | 'push' | 'manage';

const TENANT_KEY = 'tenant';
/** At most two security tokens are valid at once: the newest and the one it replaced. */
const MAX_SECURITY_TOKENS = 2;

/**
 * One tenant: its configuration, its connect-token reservations and its hibernatable WebSockets.
 * RPC methods return Outcomes (ApiErrors as data); socket handlers never throw.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private alarmKnownSet = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.ensureSchema();
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  async createTenant(name: string, accessControl: AccessControl): Promise<Outcome<{ name: string; securityToken: string; accessControl: AccessControl }>> {
    return settle(async () => {
      if (this.tenant() !== null) throw new ApiError(409, 'tenant_exists', `Tenant "${name}" already exists.`);
      const securityToken = randomToken('mws_');
      this.saveTenant({ name, accessControl, createdAt: Date.now(), securityTokenHashes: [await hashToken(securityToken)] });
      return { name, securityToken, accessControl };
    });
  }

  async describeTenant(): Promise<Outcome<TenantInfo>> {
    return settle(() => {
      const tenant = this.requireTenant();
      return {
        name: tenant.name,
        accessControl: tenant.accessControl,
        createdAt: new Date(tenant.createdAt).toISOString(),
        securityTokens: tenant.securityTokenHashes.length,
        sockets: this.openSockets().length,
      };
    });
  }

  /** Issues a new security token; the newest previous one stays valid until revoked or rotated out. */
  async rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const securityToken = randomToken('mws_');
      const hashes = [await hashToken(securityToken), ...tenant.securityTokenHashes].slice(0, MAX_SECURITY_TOKENS);
      this.saveTenant({ ...tenant, securityTokenHashes: hashes });
      return { securityToken, validTokens: hashes.length };
    });
  }

  async revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(() => {
      const tenant = this.requireTenant();
      const hashes = tenant.securityTokenHashes.slice(0, 1);
      this.saveTenant({ ...tenant, securityTokenHashes: hashes });
      return { validTokens: hashes.length };
    });
  }

  /** Closes every socket and erases the tenant. */
  async deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      this.requireTenant();
      for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, CloseCode.TENANT_DELETED, 'tenant deleted');
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.ensureSchema();
      this.alarmKnownSet = false;
      return {};
    });
  }

  // ---- Tenant API ----

  async pushMessage(bearer: string | null, push: PushRequest): Promise<Outcome<{ id: string; sent: number }>> {
    return settle(async () => {
      await this.authorize(bearer, 'push');
      const receivers = resolveReceivers(push.receivers, (tag) => this.ctx.getWebSockets(tag));
      let sent = 0;
      for (const ws of receivers) if (this.trySend(ws, push.data)) sent++;
      return { id: crypto.randomUUID(), sent };
    });
  }

  /** Reserves a socket id with its tags and returns the single-use connect token for it. */
  async reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      await this.authorize(bearer, action);
      const id = request.id ?? crypto.randomUUID();
      const token = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      this.ctx.storage.sql.exec(
        'INSERT INTO reservations (token_hash, socket_id, tags, expires_at) VALUES (?, ?, ?, ?)',
        await hashToken(token),
        id,
        JSON.stringify(request.tags),
        expiresAt,
      );
      await this.ensureAlarm();
      return { id, tags: request.tags, token, expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  async listSockets(bearer: string | null): Promise<Outcome<SocketInfo[]>> {
    return settle(async () => {
      await this.authorize(bearer, 'manage');
      return this.openSockets().map(socketInfo);
    });
  }

  async getSocket(bearer: string | null, id: string): Promise<Outcome<SocketInfo>> {
    return settle(async () => {
      await this.authorize(bearer, 'manage');
      const ws = this.openSockets(socketIdTag(id))[0];
      if (ws === undefined) throw socketNotFound(id);
      return socketInfo(ws);
    });
  }

  async deleteSocket(bearer: string | null, id: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      await this.authorize(bearer, 'manage');
      const sockets = this.openSockets(socketIdTag(id));
      if (sockets.length === 0) throw socketNotFound(id);
      for (const ws of sockets) closeQuietly(ws, CloseCode.REMOVED, 'removed by the backend');
      return {};
    });
  }

  async getConfiguration(bearer: string | null): Promise<Outcome<{ accessControl: AccessControl }>> {
    return settle(async () => {
      const tenant = await this.authorize(bearer, 'manage');
      return { accessControl: tenant.accessControl };
    });
  }

  async setConfiguration(bearer: string | null, update: { accessControl: AccessControl }): Promise<Outcome<{ accessControl: AccessControl }>> {
    return settle(async () => {
      const tenant = await this.authorize(bearer, 'manage');
      this.saveTenant({ ...tenant, accessControl: update.accessControl });
      return { accessControl: update.accessControl };
    });
  }

  // ---- WebSockets ----

  /** WebSocket upgrades with `?token=`. Every refusal is a close code the client can see, even in a browser. */
  override async fetch(request: Request): Promise<Response> {
    if (this.tenant() === null) return refuseSocket(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
    const token = new URL(request.url).searchParams.get('token');
    if (!token) return refuseSocket(CloseCode.INVALID_TOKEN, 'missing connect token');
    const reservation = this.takeReservation(await hashToken(token));
    if (reservation === null) return refuseSocket(CloseCode.INVALID_TOKEN, 'connect token is unknown, already used or expired');

    for (const older of this.ctx.getWebSockets(socketIdTag(reservation.id))) {
      closeQuietly(older, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, hibernationTags(reservation.id, reservation.tags));
    const attachment: SocketAttachment = { id: reservation.id, tags: reservation.tags, connectedAt: Date.now() };
    server.serializeAttachment(attachment);
    await this.ensureAlarm();
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Raw mode: the service only pushes; client messages other than the keepalive `ping` are ignored. */
  override webSocketMessage(): void {}

  override webSocketClose(ws: WebSocket, code: number): void {
    // Answer the client's close frame so the closing handshake completes. 1005/1006 cannot be sent back.
    closeQuietly(ws, code === 1005 || code === 1006 || code < 1000 ? 1000 : code, '');
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    console.warn('websocket error', String(error));
    closeQuietly(ws, CloseCode.SEND_FAILED, 'websocket error');
  }

  /** The keepalive sweep: closes stale sockets, forgets expired reservations, and stops when nothing is left to watch. */
  override async alarm(): Promise<void> {
    this.alarmKnownSet = false;
    const now = Date.now();
    let open = 0;
    for (const ws of this.openSockets()) {
      if (isStale(this.ctx.getWebSocketAutoResponseTimestamp(ws), now, this.config.keepaliveIntervalMs)) {
        closeQuietly(ws, CloseCode.KEEPALIVE_TIMEOUT, 'keepalive timeout: no ping for two intervals');
      } else {
        open++;
      }
    }
    this.ctx.storage.sql.exec('DELETE FROM reservations WHERE expires_at <= ?', now);
    const pending = this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM reservations').one().n;
    const next = nextSweepAt(now, this.config.keepaliveIntervalMs, open, pending);
    if (next !== null) {
      await this.ctx.storage.setAlarm(next);
      this.alarmKnownSet = true;
    }
  }

  // ---- internals ----

  private ensureSchema(): void {
    this.ctx.storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS reservations (token_hash TEXT PRIMARY KEY, socket_id TEXT NOT NULL, tags TEXT NOT NULL, expires_at INTEGER NOT NULL)',
    );
  }

  private tenant(): TenantRecord | null {
    return this.ctx.storage.kv.get<TenantRecord>(TENANT_KEY) ?? null;
  }

  private requireTenant(): TenantRecord {
    const tenant = this.tenant();
    if (tenant === null) throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
    return tenant;
  }

  private saveTenant(record: TenantRecord): void {
    this.ctx.storage.kv.put(TENANT_KEY, record);
  }

  private async authorize(bearer: string | null, action: Action): Promise<TenantRecord> {
    const tenant = this.requireTenant();
    if (bearer === null) {
      if (tenant.accessControl === 'none' && action !== 'manage') return tenant;
      throw new ApiError(401, 'unauthorized', 'Missing "Authorization: Bearer <securityToken>" header.');
    }
    if (!(await matchesStoredHash(bearer, tenant.securityTokenHashes))) {
      throw new ApiError(401, 'unauthorized', 'Invalid security token for this tenant.');
    }
    return tenant;
  }

  private openSockets(tag?: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Sends without ever throwing out of the delivery loop; a socket whose send fails is closed and so leaves the list. */
  private trySend(ws: WebSocket, data: string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(data);
      return true;
    } catch (err) {
      console.warn('send failed; closing socket', String(err));
      closeQuietly(ws, CloseCode.SEND_FAILED, 'send failed');
      return false;
    }
  }

  /** Removes and returns an unexpired reservation, atomically (single use). */
  private takeReservation(tokenHash: string): { id: string; tags: string[] } | null {
    const rows = this.ctx.storage.sql
      .exec<{ socket_id: string; tags: string; expires_at: number }>(
        'DELETE FROM reservations WHERE token_hash = ? RETURNING socket_id, tags, expires_at',
        tokenHash,
      )
      .toArray();
    const row = rows[0];
    if (row === undefined || row.expires_at <= Date.now()) return null;
    return { id: row.socket_id, tags: JSON.parse(row.tags) as string[] };
  }

  private async ensureAlarm(): Promise<void> {
    if (this.alarmKnownSet) return;
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + this.config.keepaliveIntervalMs);
    }
    this.alarmKnownSet = true;
  }
}

function socketInfo(ws: WebSocket): SocketInfo {
  const a = ws.deserializeAttachment() as SocketAttachment;
  return { id: a.id, connectedAt: new Date(a.connectedAt).toISOString(), tags: a.tags };
}

function socketNotFound(id: string): ApiError {
  return new ApiError(404, 'socket_not_found', `No connected socket with id "${id}".`);
}

/** Completes the upgrade only to close at once with `code`, so even a browser sees why it was refused. */
function refuseSocket(code: number, reason: string): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  closeQuietly(server, code, reason);
  return new Response(null, { status: 101, webSocket: client });
}
