import { DurableObject } from 'cloudflare:workers';
import type { JWTVerifyGetKey } from 'jose';
import { authorize, subjectTags, type Action, type Principal } from './access';
import { CloseCode, closeQuietly } from './close-codes';
import { readConfig, type Config } from './config';
import { ApiError, errorResponse, settle, type Outcome } from './errors';
import { looksLikeJwt, verifyConnectToken, type SigningKey } from './jwt';
import { isStale, nextSweepAt } from './keepalive';
import { CLIENT_MESSAGE_WINDOW_MS, CLIENT_MESSAGES_PER_WINDOW, MAX_TAGS_PER_SOCKET } from './limits';
import { countInWindow, takeToken, type Bucket, type Window } from './rate-limit';
import { hibernationTags, resolveReceivers, SOCKET_ID_PREFIX, socketIdTag, USER_TAG_PREFIX } from './receivers';
import {
  allShards,
  encodeCursor,
  idForShard,
  idsByShard,
  resize,
  shardObjectName,
  shardOf,
  shardsForId,
  tokenForShard,
  tokenSecret,
  type Cursor,
  type ShardLayout,
} from './shards';
import { burstFor, type TenantLimits } from './tenant-limits';
import {
  configurationView,
  layoutOf,
  limitsOf,
  shardRecordFor,
  type ConfigurationView,
  type ShardRecord,
  type TenantInfo,
  type TenantRecord,
} from './tenant-record';
import { ConnectTokens, type Grant } from './connect-tokens';
import { hashToken, randomToken } from './tokens';
import { socketIdProblem, tagProblem, type AccessControl, type ConfigurationUpdate, type PushRequest, type Receivers, type SocketRequest } from './validation';

export type { Action } from './access';

/**
 * Kept on each hibernatable socket and survives eviction: only when it connected (epoch ms). Its id and tags are
 * its hibernation tags already (`ctx.getTags`), so the attachment stays a few bytes (the platform allows 2 KiB).
 */
type SocketAttachment = number;

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

export interface SocketPage {
  results: SocketInfo[];
  cursor: string | null;
}

/** Where this object stands in its tenant: shard 0 holds the tenant record, shard k > 0 a copy of what it needs. */
interface Placement {
  tenant: string;
  shard: number;
  layout: ShardLayout;
  limits: TenantLimits;
  signingKeys: SigningKey[];
}

const TENANT_KEY = 'tenant';
const SHARD_KEY = 'shard';
/** At most two security tokens are valid at once: the newest and the one it replaced. */
const MAX_SECURITY_TOKENS = 2;
const MAX_SIGNING_KEYS = 3;
/** A tenant has at most two security tokens; the set only guards against unbounded growth. */
const MAX_VERIFIED_TOKENS = 4;
const SOCKET_RECOUNT_MS = 1000;

/**
 * One tenant, or one shard of a large tenant: configuration (shard 0 only), connect-token reservations and
 * hibernatable WebSockets. Shard 0 answers every REST call and fans out to the other shards; a one-shard
 * tenant never leaves its object. RPC methods return Outcomes (ApiErrors as data); socket handlers never throw.
 */
export class TenantHub extends DurableObject<Env> {
  private readonly config: Config;
  private alarmKnownSet = false;
  /** Rate-limit buckets live in memory: an evicted object was idle, so its buckets were full anyway. */
  private readonly buckets = new Map<'push' | 'connect', Bucket>();
  private readonly clientMessageWindows = new WeakMap<WebSocket, Window>();
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();
  /** The tenant record as last read or written (undefined: not read yet in this life of the object). */
  private tenantCache: TenantRecord | null | undefined;
  /** Likewise for the record of a shard k > 0. */
  private shardRecordCache: ShardRecord | null | undefined;
  /** Bearer tokens already matched against the security-token hashes; cleared whenever the record changes. */
  private readonly verifiedSecurityTokens = new Set<string>();
  /** Open + closing sockets, recounted at most every SOCKET_RECOUNT_MS; the exact count allocates every socket. */
  private socketEstimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };
  private readonly connectTokens: ConnectTokens;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    // Answered by the runtime without waking the object; see keepalive.ts.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.connectTokens = new ConnectTokens(ctx.storage);
  }

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  async createTenant(
    name: string,
    accessControl: AccessControl,
    limits: Partial<TenantLimits> = {},
    shards = 1,
  ): Promise<Outcome<{ name: string; securityToken: string; accessControl: AccessControl; limits: TenantLimits; shards: number }>> {
    return settle(async () => {
      if (this.tenant() !== null) throw new ApiError(409, 'tenant_exists', `Tenant "${name}" already exists.`);
      const securityToken = randomToken('mws_');
      const record: TenantRecord = {
        name,
        accessControl,
        createdAt: Date.now(),
        securityTokenHashes: [await hashToken(securityToken)],
        limits,
        layout: { shards, previous: [] },
      };
      await this.saveTenant(record);
      return { name, securityToken, accessControl, limits: limitsOf(record), shards };
    });
  }

  async setLimits(limits: Partial<TenantLimits>): Promise<Outcome<{ limits: TenantLimits }>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const next = { ...tenant, limits: { ...tenant.limits, ...limits } };
      await this.saveTenant(next);
      this.buckets.clear();
      return { limits: limitsOf(next) };
    });
  }

  /** Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are. */
  async setShards(shards: number): Promise<Outcome<{ shards: number; previous: number[] }>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const layout = resize(layoutOf(tenant), shards);
      await this.saveTenant({ ...tenant, layout });
      return layout;
    });
  }

  async describeTenant(): Promise<Outcome<TenantInfo>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const counts = await this.onShards(allShards(layoutOf(tenant)), tenant, (hub) => hub.shardCount());
      return {
        name: tenant.name,
        accessControl: tenant.accessControl,
        createdAt: new Date(tenant.createdAt).toISOString(),
        securityTokens: tenant.securityTokenHashes.length,
        sockets: counts.reduce((a, b) => a + b, 0),
        limits: limitsOf(tenant),
        shards: layoutOf(tenant).shards,
      };
    });
  }

  /** Issues a new security token; the newest previous one stays valid until revoked or rotated out. */
  async rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const securityToken = randomToken('mws_');
      const hashes = [await hashToken(securityToken), ...tenant.securityTokenHashes].slice(0, MAX_SECURITY_TOKENS);
      await this.saveTenant({ ...tenant, securityTokenHashes: hashes });
      return { securityToken, validTokens: hashes.length };
    });
  }

  async revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      const hashes = tenant.securityTokenHashes.slice(0, 1);
      await this.saveTenant({ ...tenant, securityTokenHashes: hashes });
      return { validTokens: hashes.length };
    });
  }

  /** Closes every socket on every shard and erases the tenant. */
  async deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const tenant = this.requireTenant();
      await this.onShards(allShards(layoutOf(tenant)).filter((k) => k !== 0), tenant, (hub) => hub.shardWipe());
      await this.shardWipe();
      return {};
    });
  }

  /** The tenant's shard layout, for routing backend-minted connect tokens; null when there is no such tenant. */
  async shardLayout(): Promise<ShardLayout | null> {
    const tenant = this.tenant();
    return tenant === null ? null : layoutOf(tenant);
  }

  // ---- Tenant API (shard 0) ----

  async pushMessage(bearer: string | null, push: PushRequest): Promise<Outcome<{ id: string; sent: number }>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'push');
      this.spend('push', limitsOf(tenant).pushesPerSecond);
      const layout = layoutOf(tenant);
      const id = crypto.randomUUID();
      if (layout.shards === 1 && layout.previous.length === 0) return { id, sent: this.shardDeliver(push.receivers, push.data) };
      const sent = await this.fanOut(tenant, push);
      return { id, sent };
    });
  }

  /** Reserves a socket id with its tags, on the shard the id belongs to, and returns the single-use connect token. */
  async reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      const { tenant, principal } = await this.authorizeCall(bearer, action);
      const layout = layoutOf(tenant);
      const id = request.id ?? crypto.randomUUID();
      const tags = principal.kind === 'user' ? subjectTags(principal.claims, tenant.jwt) : request.tags;
      const shard = shardOf(id, layout.shards);
      const secret = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      await this.onShard(shard, tenant, (hub) => hub.shardReserve(secret, id, tags, expiresAt));
      return { id, tags, token: tokenForShard(shard, secret), expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  /** Connected sockets, a page at a time, shard after shard, in id order within a shard. */
  async listSockets(bearer: string | null, limit: number, cursor: Cursor | null): Promise<Outcome<SocketPage>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const collected: { shard: number; info: SocketInfo }[] = [];
      for (const shard of allShards(layoutOf(tenant))) {
        if (cursor !== null && shard < cursor.shard) continue;
        const after = cursor !== null && shard === cursor.shard ? cursor.after : '';
        const page = await this.onShard(shard, tenant, (hub) => hub.shardList(after, limit + 1 - collected.length));
        collected.push(...page.map((info) => ({ shard, info })));
        if (collected.length > limit) break;
      }
      if (collected.length <= limit) return { results: collected.map((c) => c.info), cursor: null };
      const shown = collected.slice(0, limit);
      const last = shown[shown.length - 1] as { shard: number; info: SocketInfo };
      return { results: shown.map((c) => c.info), cursor: encodeCursor({ shard: last.shard, after: last.info.id }) };
    });
  }

  async getSocket(bearer: string | null, id: string): Promise<Outcome<SocketInfo>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const found = await this.onShards(shardsForId(id, layoutOf(tenant)), tenant, (hub) => hub.shardGet(id));
      const info = found.find((s) => s !== null);
      if (info === undefined || info === null) throw socketNotFound(id);
      return info;
    });
  }

  async deleteSocket(bearer: string | null, id: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const closed = await this.onShards(shardsForId(id, layoutOf(tenant)), tenant, (hub) => hub.shardClose(id));
      if (closed.every((n) => n === 0)) throw socketNotFound(id);
      return {};
    });
  }

  async getConfiguration(bearer: string | null): Promise<Outcome<ConfigurationView>> {
    return settle(async () => configurationView((await this.authorizeCall(bearer, 'manage')).tenant));
  }

  async setConfiguration(bearer: string | null, update: ConfigurationUpdate): Promise<Outcome<ConfigurationView>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const next: TenantRecord = { ...tenant, ...update };
      if (next.accessControl === 'jwt' && next.jwt === undefined) {
        throw ApiError.unprocessable([{ reason: 'required', property: 'jwt', message: 'accessControl "jwt" needs jwt settings: a key (secret, jwks or jwksUrl) and a policy.' }]);
      }
      await this.saveTenant(next);
      return configurationView(next);
    });
  }

  /** Creates an HS256 key with which backends mint connect tokens themselves; its secret is shown once. */
  async createSigningKey(bearer: string | null): Promise<Outcome<{ kid: string; secret: string; algorithm: 'HS256'; createdAt: string }>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const keys = tenant.signingKeys ?? [];
      if (keys.length >= MAX_SIGNING_KEYS) {
        throw new ApiError(409, 'too_many_signing_keys', `A tenant has at most ${MAX_SIGNING_KEYS} signing keys; delete one first.`);
      }
      const key: SigningKey = { kid: randomToken('key_').slice(0, 24), secret: randomToken(), createdAt: Date.now() };
      await this.saveTenant({ ...tenant, signingKeys: [...keys, key] });
      return { kid: key.kid, secret: key.secret, algorithm: 'HS256' as const, createdAt: new Date(key.createdAt).toISOString() };
    });
  }

  async listSigningKeys(bearer: string | null): Promise<Outcome<{ results: { kid: string; createdAt: string }[] }>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      return { results: (tenant.signingKeys ?? []).map((k) => ({ kid: k.kid, createdAt: new Date(k.createdAt).toISOString() })) };
    });
  }

  async deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const { tenant } = await this.authorizeCall(bearer, 'manage');
      const keys = tenant.signingKeys ?? [];
      if (!keys.some((k) => k.kid === kid)) throw new ApiError(404, 'signing_key_not_found', `No signing key "${kid}".`);
      await this.saveTenant({ ...tenant, signingKeys: keys.filter((k) => k.kid !== kid) });
      return {};
    });
  }

  // ---- Shard API: what shard 0 asks of every shard (itself included, without a hop) ----

  /** Sends `data` to this shard's matching sockets; returns how many it was written to. */
  shardDeliver(receivers: Receivers, data: string): number {
    let sent = 0;
    for (const ws of resolveReceivers(receivers, (tag) => this.ctx.getWebSockets(tag))) if (this.trySend(ws, data)) sent++;
    return sent;
  }

  async shardReserve(secret: string, id: string, tags: string[], expiresAt: number): Promise<void> {
    await this.connectTokens.reserve(secret, { id, tags }, expiresAt);
    await this.ensureAlarm();
  }

  /** Up to `limit` open sockets with ids after `after`, in id order. */
  shardList(after: string, limit: number): SocketInfo[] {
    return this.openSockets()
      .map((ws) => this.socketInfo(ws))
      .filter((s) => s.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
  }

  shardGet(id: string): SocketInfo | null {
    const ws = this.openSockets(socketIdTag(id))[0];
    return ws === undefined ? null : this.socketInfo(ws);
  }

  /** Closes the sockets with this id (4001); returns how many. */
  shardClose(id: string): number {
    const sockets = this.openSockets(socketIdTag(id));
    for (const ws of sockets) closeQuietly(ws, CloseCode.REMOVED, 'removed by the backend');
    return sockets.length;
  }

  shardCount(): number {
    return this.openSockets().length;
  }

  /** Stores what shard k needs to know about its tenant. */
  shardAdopt(record: ShardRecord): void {
    this.ctx.storage.kv.put(SHARD_KEY, record);
    this.shardRecordCache = record;
    this.buckets.clear();
  }

  /** Closes every socket (4000) and erases everything this object stores. */
  async shardWipe(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, CloseCode.TENANT_DELETED, 'tenant deleted');
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.connectTokens.ensureSchema();
    this.connectTokens.forget();
    this.alarmKnownSet = false;
    this.tenantCache = undefined;
    this.shardRecordCache = undefined;
    this.verifiedSecurityTokens.clear();
  }

  // ---- WebSockets ----

  /**
   * WebSocket upgrades with `?token=`: an opaque token from a reservation, or a JWT a backend minted.
   * Token refusals are close codes the client can see, even in a browser; load refusals are HTTP 429/503.
   */
  override async fetch(request: Request): Promise<Response> {
    const placement = this.placement();
    if (placement === null) return refuseSocket(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
    try {
      this.spend('connect', placement.limits.connectsPerSecond);
      if (this.socketCount() >= placement.limits.maxSockets) {
        throw new ApiError(503, 'tenant_full', `This tenant has reached its limit of ${placement.limits.maxSockets} sockets per object.`, { headers: { 'retry-after': '10' } });
      }
    } catch (err) {
      return errorResponse(err, { method: 'GET', path: '/' });
    }
    const token = new URL(request.url).searchParams.get('token');
    if (!token) return refuseSocket(CloseCode.INVALID_TOKEN, 'missing connect token');
    let grant: Grant | null;
    try {
      grant = looksLikeJwt(token) ? await this.redeemConnectJwt(token, placement) : await this.connectTokens.redeem(tokenSecret(token));
    } catch (err) {
      return refuseSocket(CloseCode.INVALID_TOKEN, err instanceof ApiError ? `${err.reason}: ${err.message}` : 'invalid connect token');
    }
    if (grant === null) return refuseSocket(CloseCode.INVALID_TOKEN, 'connect token is unknown, already used or expired');

    for (const older of this.ctx.getWebSockets(socketIdTag(grant.id))) {
      closeQuietly(older, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, hibernationTags(grant.id, grant.tags));
    this.socketEstimate.count++;
    const connectedAt: SocketAttachment = Date.now();
    server.serializeAttachment(connectedAt);
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

  /** The keepalive sweep: closes stale sockets, forgets expired tokens, and stops when nothing is left to watch. */
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
    const pending = this.connectTokens.purgeExpired(now);
    const next = nextSweepAt(now, this.config.keepaliveIntervalMs, open, pending);
    if (next !== null) {
      await this.ctx.storage.setAlarm(next);
      this.alarmKnownSet = true;
    }
  }

  // ---- internals ----

  private tenant(): TenantRecord | null {
    if (this.tenantCache === undefined) this.tenantCache = this.ctx.storage.kv.get<TenantRecord>(TENANT_KEY) ?? null;
    return this.tenantCache;
  }

  private requireTenant(): TenantRecord {
    const tenant = this.tenant();
    if (tenant === null) throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
    return tenant;
  }

  /** Saves the tenant record and hands every other shard the part it needs. */
  private async saveTenant(record: TenantRecord): Promise<void> {
    this.ctx.storage.kv.put(TENANT_KEY, record);
    this.tenantCache = record;
    this.verifiedSecurityTokens.clear();
    const others = allShards(layoutOf(record)).filter((k) => k !== 0);
    await this.onShards(others, record, (hub, shard) => hub.shardAdopt(shardRecordFor(record, shard)));
  }

  private placement(): Placement | null {
    const tenant = this.tenant();
    if (tenant !== null) return { tenant: tenant.name, shard: 0, layout: layoutOf(tenant), limits: limitsOf(tenant), signingKeys: tenant.signingKeys ?? [] };
    if (this.shardRecordCache === undefined) this.shardRecordCache = this.ctx.storage.kv.get<ShardRecord>(SHARD_KEY) ?? null;
    const shard = this.shardRecordCache;
    if (shard === null) return null;
    return { tenant: shard.tenant, shard: shard.shard, layout: shard.layout, limits: limitsOf(shard), signingKeys: shard.signingKeys };
  }

  private async authorizeCall(bearer: string | null, action: Action): Promise<{ tenant: TenantRecord; principal: Principal }> {
    const tenant = this.requireTenant();
    if (bearer !== null && this.verifiedSecurityTokens.has(bearer)) return { tenant, principal: { kind: 'backend' } };
    const principal = await authorize(tenant, bearer, action, this.remoteKeySets);
    if (principal.kind === 'backend' && bearer !== null && this.verifiedSecurityTokens.size < MAX_VERIFIED_TOKENS) this.verifiedSecurityTokens.add(bearer);
    return { tenant, principal };
  }

  /** Runs `call` on one shard: on this object directly for shard 0, else through its stub. */
  private async onShard<T>(shard: number, tenant: TenantRecord, call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>> {
    if (shard === 0) return await call(this, 0);
    const ns = this.env.TENANT_HUB;
    const stub = ns.get(ns.idFromName(shardObjectName(tenant.name, shard))) as unknown as ShardApi;
    return await call(stub, shard);
  }

  private onShards<T>(shards: number[], tenant: TenantRecord, call: (hub: ShardApi, shard: number) => T | Promise<T>): Promise<Awaited<T>[]> {
    return Promise.all(shards.map((shard) => this.onShard(shard, tenant, call)));
  }

  /**
   * Delivers on every shard a push can reach, in parallel: id pushes only where those ids live, tag and `"*"`
   * pushes everywhere. A shard that fails is tried once more; if it fails again the push is answered 503 with
   * what was delivered, since a blind retry would duplicate on the shards that succeeded.
   */
  private async fanOut(tenant: TenantRecord, push: PushRequest): Promise<number> {
    const layout = layoutOf(tenant);
    const { sockets, tags } = push.receivers;
    const everywhere = (sockets?.includes('*') ?? false) || (tags?.length ?? 0) > 0;
    const byShard = idsByShard(sockets?.includes('*') ? [] : (sockets ?? []), layout);
    // Remote shards first: shard 0 sends synchronously, and the others should not wait for it.
    const targets = (everywhere ? allShards(layout) : [...byShard.keys()]).sort((a, b) => Number(a === 0) - Number(b === 0));
    const receiversFor = (shard: number): Receivers =>
      sockets?.includes('*') ? { sockets: ['*'], tags: null } : { sockets: byShard.get(shard) ?? null, tags };
    const deliver = (shard: number) => this.onShard(shard, tenant, (hub) => hub.shardDeliver(receiversFor(shard), push.data));
    const settled = await Promise.allSettled(targets.map(deliver));
    let sent = 0;
    let failed = 0;
    for (const [i, result] of settled.entries()) {
      if (result.status === 'fulfilled') sent += result.value;
      else {
        const retry = await deliver(targets[i] as number).catch(() => null);
        if (retry === null) failed++;
        else sent += retry;
      }
    }
    if (failed > 0) {
      throw new ApiError(503, 'partial_delivery', `Delivered to ${sent} sockets, but ${failed} of ${targets.length} shards did not answer; a retry may duplicate.`, {
        headers: { 'retry-after': '1' },
      });
    }
    return sent;
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
  private async redeemConnectJwt(token: string, placement: Placement): Promise<{ id: string; tags: string[] } | null> {
    const claims = await verifyConnectToken(token, placement.tenant, placement.signingKeys);
    const problems = [claims.socketId === null ? null : socketIdProblem(claims.socketId), ...claims.tags.map(tagProblem)].filter((p) => p !== null);
    const tags = [...new Set(claims.tags)];
    if (problems.length > 0 || tags.length > MAX_TAGS_PER_SOCKET) throw new ApiError(401, 'invalid_claims', 'sid or tags break the documented limits.');
    if (!this.connectTokens.spendJti(claims.jti, claims.expiresAt)) return null;
    return { id: claims.socketId ?? idForShard(placement.shard, placement.layout.shards), tags };
  }

  /**
   * Sockets held by this object, closing ones included (the platform counts them too). Exact at most a second ago,
   * plus those accepted since: close enough for a cap that stays 768 below the platform's.
   */
  private socketCount(): number {
    const now = Date.now();
    if (now - this.socketEstimate.countedAt > SOCKET_RECOUNT_MS) this.socketEstimate = { count: this.ctx.getWebSockets().length, countedAt: now };
    return this.socketEstimate.count;
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

  /** A socket as the API shows it: id and tags from its hibernation tags, connectedAt from its attachment. */
  private socketInfo(ws: WebSocket): SocketInfo {
    let id = '';
    const tags: string[] = [];
    for (const tag of this.ctx.getTags(ws)) {
      if (tag.startsWith(SOCKET_ID_PREFIX)) id = tag.slice(SOCKET_ID_PREFIX.length);
      else if (tag.startsWith(USER_TAG_PREFIX)) tags.push(tag.slice(USER_TAG_PREFIX.length));
    }
    return { id, connectedAt: new Date(ws.deserializeAttachment() as SocketAttachment).toISOString(), tags };
  }

  private async ensureAlarm(): Promise<void> {
    if (this.alarmKnownSet) return;
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + this.config.keepaliveIntervalMs);
    }
    this.alarmKnownSet = true;
  }
}

/** The shard methods, as shard 0 calls them on itself or on a stub. */
type ShardApi = Pick<TenantHub, 'shardDeliver' | 'shardReserve' | 'shardList' | 'shardGet' | 'shardClose' | 'shardCount' | 'shardAdopt' | 'shardWipe'>;

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
