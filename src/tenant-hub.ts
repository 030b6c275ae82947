import { DurableObject } from 'cloudflare:workers';
import { CloseCode, closeQuietly } from './close-codes';
import { readConfig, type Config } from './config';
import { ApiError, errorResponse, settle, type Outcome } from './errors';
import { looksLikeJwt, verifyConnectToken, verifyEndUserToken, type JwtSettings, type SigningKey } from './jwt';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { isStale, nextSweepAt } from './keepalive';
import { CLIENT_MESSAGE_WINDOW_MS, CLIENT_MESSAGES_PER_WINDOW, MAX_TAGS_PER_SOCKET } from './limits';
import { policyAllows } from './policy';
import { countInWindow, takeToken, type Bucket, type Window } from './rate-limit';
import { hibernationTags, resolveReceivers, socketIdTag } from './receivers';
import { burstFor, DEFAULT_TENANT_LIMITS, type TenantLimits } from './tenant-limits';
import { hashToken, matchesStoredHash, randomToken } from './tokens';
import { socketIdProblem, tagProblem, type AccessControl, type ConfigurationUpdate, type PushRequest, type SocketRequest } from './validation';

/** What a tenant object stores about itself. Security tokens are kept only as SHA-256 hashes, newest first. */
interface TenantRecord {
  name: string;
  accessControl: AccessControl;
  createdAt: number;
  securityTokenHashes: string[];
  jwt?: JwtSettings;
  limits?: Partial<TenantLimits>;
  signingKeys?: SigningKey[];
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
  limits: TenantLimits;
}

/** The configuration a tenant reads back; secrets are reported as present, never returned. */
export interface ConfigurationView {
  accessControl: AccessControl;
  jwt: (Omit<JwtSettings, 'secret'> & { secret?: 'configured' }) | null;
  limits: TenantLimits;
}

/**
 * Who may do what: the security token may do everything; `connect` and `push` are public in `none` mode and
 * governed by the policy for end-user JWTs in `jwt` mode; `manage` always needs the security token.
 */
export type Action = 'connect' | 'push' | 'manage';

/** Who is calling, once authorized. */
type Principal = { kind: 'backend' } | { kind: 'public' } | { kind: 'user'; claims: JWTPayload };

const TENANT_KEY = 'tenant';
/** At most two security tokens are valid at once: the newest and the one it replaced. */
const MAX_SECURITY_TOKENS = 2;
const MAX_SIGNING_KEYS = 3;

/**
 * One tenant: its configuration, its connect-token reservations and its hibernatable WebSockets.
 * RPC methods return Outcomes (ApiErrors as data); socket handlers never throw.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private alarmKnownSet = false;
  /** Rate-limit buckets live in memory: an evicted object was idle, so its buckets were full anyway. */
  private readonly buckets = new Map<'push' | 'connect', Bucket>();
  private readonly clientMessageWindows = new WeakMap<WebSocket, Window>();
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.ensureSchema();
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  async createTenant(
    name: string,
    accessControl: AccessControl,
    limits: Partial<TenantLimits> = {},
  ): Promise<Outcome<{ name: string; securityToken: string; accessControl: AccessControl; limits: TenantLimits }>> {
    return settle(async () => {
      if (this.tenant() !== null) throw new ApiError(409, 'tenant_exists', `Tenant "${name}" already exists.`);
      const securityToken = randomToken('mws_');
      this.saveTenant({ name, accessControl, createdAt: Date.now(), securityTokenHashes: [await hashToken(securityToken)], limits });
      return { name, securityToken, accessControl, limits: { ...DEFAULT_TENANT_LIMITS, ...limits } };
    });
  }

  async setLimits(limits: Partial<TenantLimits>): Promise<Outcome<{ limits: TenantLimits }>> {
    return settle(() => {
      const tenant = this.requireTenant();
      const merged = { ...tenant.limits, ...limits };
      this.saveTenant({ ...tenant, limits: merged });
      this.buckets.clear();
      return { limits: { ...DEFAULT_TENANT_LIMITS, ...merged } };
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
        limits: limitsOf(tenant),
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
      const { tenant } = await this.authorize(bearer, 'push');
      this.spend('push', limitsOf(tenant).pushesPerSecond);
      const receivers = resolveReceivers(push.receivers, (tag) => this.ctx.getWebSockets(tag));
      let sent = 0;
      for (const ws of receivers) if (this.trySend(ws, push.data)) sent++;
      return { id: crypto.randomUUID(), sent };
    });
  }

  /** Reserves a socket id with its tags and returns the single-use connect token for it. */
  async reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      const { tenant, principal } = await this.authorize(bearer, action);
      const id = request.id ?? crypto.randomUUID();
      const tags = principal.kind === 'user' ? subjectTags(principal.claims, tenant.jwt) : request.tags;
      const token = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      this.ctx.storage.sql.exec(
        'INSERT INTO reservations (token_hash, socket_id, tags, expires_at) VALUES (?, ?, ?, ?)',
        await hashToken(token),
        id,
        JSON.stringify(tags),
        expiresAt,
      );
      await this.ensureAlarm();
      return { id, tags, token, expiresAt: new Date(expiresAt).toISOString() };
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

  async getConfiguration(bearer: string | null): Promise<Outcome<ConfigurationView>> {
    return settle(async () => {
      const { tenant } = await this.authorize(bearer, 'manage');
      return configurationView(tenant);
    });
  }

  async setConfiguration(bearer: string | null, update: ConfigurationUpdate): Promise<Outcome<ConfigurationView>> {
    return settle(async () => {
      const { tenant } = await this.authorize(bearer, 'manage');
      const next: TenantRecord = { ...tenant, ...update };
      if (next.accessControl === 'jwt' && next.jwt === undefined) {
        throw ApiError.unprocessable([{ reason: 'required', property: 'jwt', message: 'accessControl "jwt" needs jwt settings: a key (secret, jwks or jwksUrl) and a policy.' }]);
      }
      this.saveTenant(next);
      return configurationView(next);
    });
  }

  /** Creates an HS256 key with which backends mint connect tokens themselves; its secret is shown once. */
  async createSigningKey(bearer: string | null): Promise<Outcome<{ kid: string; secret: string; algorithm: 'HS256'; createdAt: string }>> {
    return settle(async () => {
      const { tenant } = await this.authorize(bearer, 'manage');
      const keys = tenant.signingKeys ?? [];
      if (keys.length >= MAX_SIGNING_KEYS) {
        throw new ApiError(409, 'too_many_signing_keys', `A tenant has at most ${MAX_SIGNING_KEYS} signing keys; delete one first.`);
      }
      const key: SigningKey = { kid: randomToken('key_').slice(0, 24), secret: randomToken(), createdAt: Date.now() };
      this.saveTenant({ ...tenant, signingKeys: [...keys, key] });
      return { kid: key.kid, secret: key.secret, algorithm: 'HS256' as const, createdAt: new Date(key.createdAt).toISOString() };
    });
  }

  async listSigningKeys(bearer: string | null): Promise<Outcome<{ results: { kid: string; createdAt: string }[] }>> {
    return settle(async () => {
      const { tenant } = await this.authorize(bearer, 'manage');
      return { results: (tenant.signingKeys ?? []).map((k) => ({ kid: k.kid, createdAt: new Date(k.createdAt).toISOString() })) };
    });
  }

  async deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const { tenant } = await this.authorize(bearer, 'manage');
      const keys = tenant.signingKeys ?? [];
      if (!keys.some((k) => k.kid === kid)) throw new ApiError(404, 'signing_key_not_found', `No signing key "${kid}".`);
      this.saveTenant({ ...tenant, signingKeys: keys.filter((k) => k.kid !== kid) });
      return {};
    });
  }

  // ---- WebSockets ----

  /**
   * WebSocket upgrades with `?token=`: an opaque token from a reservation, or a JWT a backend minted.
   * Token refusals are close codes the client can see, even in a browser; load refusals are HTTP 429/503.
   */
  override async fetch(request: Request): Promise<Response> {
    const tenant = this.tenant();
    if (tenant === null) return refuseSocket(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
    const limits = limitsOf(tenant);
    try {
      this.spend('connect', limits.connectsPerSecond);
      // The platform counts closing sockets too.
      if (this.ctx.getWebSockets().length >= limits.maxSockets) {
        throw new ApiError(503, 'tenant_full', `This tenant has reached its limit of ${limits.maxSockets} sockets.`, { headers: { 'retry-after': '10' } });
      }
    } catch (err) {
      return errorResponse(err, { method: 'GET', path: '/' });
    }
    const token = new URL(request.url).searchParams.get('token');
    if (!token) return refuseSocket(CloseCode.INVALID_TOKEN, 'missing connect token');
    let grant: { id: string; tags: string[] } | null;
    try {
      grant = looksLikeJwt(token) ? await this.redeemConnectJwt(token, tenant) : this.takeReservation(await hashToken(token));
    } catch (err) {
      return refuseSocket(CloseCode.INVALID_TOKEN, err instanceof ApiError ? `${err.reason}: ${err.message}` : 'invalid connect token');
    }
    if (grant === null) return refuseSocket(CloseCode.INVALID_TOKEN, 'connect token is unknown, already used or expired');

    for (const older of this.ctx.getWebSockets(socketIdTag(grant.id))) {
      closeQuietly(older, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, hibernationTags(grant.id, grant.tags));
    const attachment: SocketAttachment = { id: grant.id, tags: grant.tags, connectedAt: Date.now() };
    server.serializeAttachment(attachment);
    await this.ensureAlarm();
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Raw mode: the service only pushes; client messages other than the keepalive `ping` (answered by the runtime,
   * never seen here) are ignored, and a client that floods them is closed with 1008.
   */
  override webSocketMessage(ws: WebSocket): void {
    const counted = countInWindow(this.clientMessageWindows.get(ws), CLIENT_MESSAGES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, Date.now());
    this.clientMessageWindows.set(ws, counted.window);
    if (counted.exceeded) closeQuietly(ws, CloseCode.POLICY_VIOLATION, 'policy violation: this socket only receives; send only "ping"');
  }

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
    this.ctx.storage.sql.exec('DELETE FROM used_connect_tokens WHERE expires_at <= ?', now);
    const pending = this.ctx.storage.sql
      .exec<{ n: number }>('SELECT (SELECT COUNT(*) FROM reservations) + (SELECT COUNT(*) FROM used_connect_tokens) AS n')
      .one().n;
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
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS used_connect_tokens (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)');
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

  private async authorize(bearer: string | null, action: Action): Promise<{ tenant: TenantRecord; principal: Principal }> {
    const tenant = this.requireTenant();
    if (bearer === null) {
      if (tenant.accessControl === 'none' && action !== 'manage') return { tenant, principal: { kind: 'public' } };
      throw new ApiError(401, 'unauthorized', 'Missing "Authorization: Bearer <token>" header.');
    }
    if (await matchesStoredHash(bearer, tenant.securityTokenHashes)) return { tenant, principal: { kind: 'backend' } };
    if (tenant.accessControl === 'jwt' && tenant.jwt !== undefined && action !== 'manage' && looksLikeJwt(bearer)) {
      const claims = await verifyEndUserToken(bearer, tenant.jwt, this.remoteKeySets);
      const allowed = action === 'connect' ? tenant.jwt.policy.read : tenant.jwt.policy.write;
      if (!policyAllows(allowed, claims, tenant.jwt.groupsClaim)) {
        throw new ApiError(403, 'forbidden', `The token is valid but the tenant's policy does not let it ${action === 'connect' ? 'read (connect)' : 'write (push)'}.`);
      }
      return { tenant, principal: { kind: 'user', claims } };
    }
    throw new ApiError(401, 'unauthorized', action === 'manage' ? 'This call needs the tenant\'s security token.' : 'Invalid token for this tenant.');
  }

  /** Takes one token from a rate-limit bucket or throws a 429 with Retry-After. */
  private spend(kind: 'push' | 'connect', perSecond: number): void {
    const result = takeToken(this.buckets.get(kind), { perSecond, burst: burstFor(perSecond) }, Date.now());
    this.buckets.set(kind, result.bucket);
    if (!result.allowed) {
      throw new ApiError(429, 'rate_limited', `Too many ${kind === 'push' ? 'pushes' : 'connection attempts'}: this tenant allows ${perSecond} per second.`, {
        headers: { 'retry-after': String(result.retryAfterSeconds) },
      });
    }
  }

  /** Verifies a backend-minted connect JWT and records its `jti` so it works once. */
  private async redeemConnectJwt(token: string, tenant: TenantRecord): Promise<{ id: string; tags: string[] } | null> {
    const claims = await verifyConnectToken(token, tenant.name, tenant.signingKeys ?? []);
    const problems = [claims.socketId === null ? null : socketIdProblem(claims.socketId), ...claims.tags.map(tagProblem)].filter((p) => p !== null);
    const tags = [...new Set(claims.tags)];
    if (problems.length > 0 || tags.length > MAX_TAGS_PER_SOCKET) throw new ApiError(401, 'invalid_claims', 'sid or tags break the documented limits.');
    const inserted = this.ctx.storage.sql.exec('INSERT OR IGNORE INTO used_connect_tokens (jti, expires_at) VALUES (?, ?)', claims.jti, claims.expiresAt);
    if (inserted.rowsWritten === 0) return null;
    return { id: claims.socketId ?? crypto.randomUUID(), tags };
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

function limitsOf(tenant: TenantRecord): TenantLimits {
  return { ...DEFAULT_TENANT_LIMITS, ...tenant.limits };
}

function configurationView(tenant: TenantRecord): ConfigurationView {
  const { secret, ...jwt } = tenant.jwt ?? ({} as Partial<JwtSettings>);
  return {
    accessControl: tenant.accessControl,
    jwt: tenant.jwt === undefined ? null : ({ ...jwt, ...(secret !== undefined ? { secret: 'configured' } : {}) } as ConfigurationView['jwt']),
    limits: limitsOf(tenant),
  };
}

/** The tags of a socket opened with an end user's token: `user:<sub>` when the tenant asks for it and it fits. */
function subjectTags(claims: JWTPayload, settings: JwtSettings | undefined): string[] {
  if (!settings?.subjectTag || typeof claims.sub !== 'string') return [];
  const tag = `user:${claims.sub}`;
  return tagProblem(tag) === null ? [tag] : [];
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
