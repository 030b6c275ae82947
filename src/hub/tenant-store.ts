import type { JWTVerifyGetKey } from 'jose';
import { authorize, type Action, type Principal } from '../core/access';
import { ApiError } from '../core/errors';
import type { SigningKey } from '../core/jwt';
import { MAX_SECURITY_TOKENS, MAX_SIGNING_KEYS, MAX_VERIFIED_TOKENS, type TenantLimits } from '../core/limits';
import { allShards, resize, type ShardLayout } from '../core/shards';
import {
  configurationView,
  layoutOf,
  limitsOf,
  shardRecordFor,
  type ConfigurationView,
  type ShardRecord,
  type TenantRecord,
} from '../core/tenant-record';
import { hashToken, randomToken } from '../core/tokens';
import type { AccessControl, ClientMessages, ConfigurationUpdate } from '../core/validation';
import type { WebhookRecord } from '../core/webhook-record';
import type { ShardCalls } from './shard-calls';

/** Where this object stands in its tenant: shard 0 holds the tenant record, shard k > 0 a copy of what it needs. */
export interface Placement {
  tenant: string;
  shard: number;
  layout: ShardLayout;
  limits: TenantLimits;
  signingKeys: SigningKey[];
  webhooks: WebhookRecord[];
  clientMessages: ClientMessages;
}

const TENANT_KEY = 'tenant';
/** One shared empty list, so subscriptions computed for "no webhooks" are cached once. */
const NO_WEBHOOKS: WebhookRecord[] = [];
const SHARD_KEY = 'shard';

/**
 * The tenant's record (shard 0) or its shard's copy (shard k > 0), cached in memory, and every change to it:
 * security tokens, signing keys, configuration, limits, layout. Each save hands the other shards what they need.
 */
export class TenantStore {
  /** The tenant record as last read or written (undefined: not read yet in this life of the object). */
  private tenantCache: TenantRecord | null | undefined;
  /** Likewise for the record of a shard k > 0. */
  private shardRecordCache: ShardRecord | null | undefined;
  /** Bearer tokens already matched against the security-token hashes; cleared whenever the record changes. */
  private readonly verifiedSecurityTokens = new Set<string>();
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly shards: ShardCalls,
    /** Called after this object's record changed (saved on shard 0, adopted on shard k). */
    private readonly changed: () => void,
  ) {}

  tenant(): TenantRecord | null {
    if (this.tenantCache === undefined) this.tenantCache = this.storage.kv.get<TenantRecord>(TENANT_KEY) ?? null;
    return this.tenantCache;
  }

  requireTenant(): TenantRecord {
    const tenant = this.tenant();
    if (tenant === null) throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
    return tenant;
  }

  placement(): Placement | null {
    const tenant = this.tenant();
    if (tenant !== null) {
      return {
        tenant: tenant.name,
        shard: 0,
        layout: layoutOf(tenant),
        limits: limitsOf(tenant),
        signingKeys: tenant.signingKeys ?? [],
        webhooks: tenant.webhooks ?? NO_WEBHOOKS,
        clientMessages: tenant.clientMessages ?? 'ignore',
      };
    }
    const shard = this.shardRecord();
    if (shard === null) return null;
    return {
      tenant: shard.tenant,
      shard: shard.shard,
      layout: shard.layout,
      limits: limitsOf(shard),
      signingKeys: shard.signingKeys,
      webhooks: shard.webhooks ?? NO_WEBHOOKS,
      clientMessages: shard.clientMessages ?? 'ignore',
    };
  }

  /** This object's shard number and what it needs to raise webhook events; without building a whole placement. */
  eventSettings(): { shard: number; webhooks: WebhookRecord[]; clientMessages: ClientMessages } | null {
    const tenant = this.tenant();
    if (tenant !== null) return { shard: 0, webhooks: tenant.webhooks ?? NO_WEBHOOKS, clientMessages: tenant.clientMessages ?? 'ignore' };
    const shard = this.shardRecord();
    return shard === null ? null : { shard: shard.shard, webhooks: shard.webhooks ?? NO_WEBHOOKS, clientMessages: shard.clientMessages ?? 'ignore' };
  }

  /** The tenant and who is calling; throws 404 without a tenant and 401/403 when `bearer` may not do `action`. */
  async authorize(bearer: string | null, action: Action): Promise<{ tenant: TenantRecord; principal: Principal }> {
    const tenant = this.requireTenant();
    if (bearer !== null && this.verifiedSecurityTokens.has(bearer)) return { tenant, principal: { kind: 'backend' } };
    const principal = await authorize(tenant, bearer, action, this.remoteKeySets);
    if (principal.kind === 'backend' && bearer !== null && this.verifiedSecurityTokens.size < MAX_VERIFIED_TOKENS) this.verifiedSecurityTokens.add(bearer);
    return { tenant, principal };
  }

  async create(name: string, accessControl: AccessControl, limits: Partial<TenantLimits>, shards: number) {
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
    await this.save(record);
    return { name, securityToken, accessControl, limits: limitsOf(record), shards };
  }

  async setLimits(limits: Partial<TenantLimits>): Promise<{ limits: TenantLimits }> {
    const tenant = this.requireTenant();
    const next = { ...tenant, limits: { ...tenant.limits, ...limits } };
    await this.save(next);
    return { limits: limitsOf(next) };
  }

  /** Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are. */
  async setShards(shards: number): Promise<ShardLayout> {
    const tenant = this.requireTenant();
    const layout = resize(layoutOf(tenant), shards);
    await this.save({ ...tenant, layout });
    return layout;
  }

  /** Issues a new security token; the newest previous one stays valid until revoked or rotated out. */
  async rotateSecurityToken(): Promise<{ securityToken: string; validTokens: number }> {
    const tenant = this.requireTenant();
    const securityToken = randomToken('mws_');
    const hashes = [await hashToken(securityToken), ...tenant.securityTokenHashes].slice(0, MAX_SECURITY_TOKENS);
    await this.save({ ...tenant, securityTokenHashes: hashes });
    return { securityToken, validTokens: hashes.length };
  }

  async revokePreviousSecurityTokens(): Promise<{ validTokens: number }> {
    const tenant = this.requireTenant();
    const hashes = tenant.securityTokenHashes.slice(0, 1);
    await this.save({ ...tenant, securityTokenHashes: hashes });
    return { validTokens: hashes.length };
  }

  async setConfiguration(tenant: TenantRecord, update: ConfigurationUpdate): Promise<ConfigurationView> {
    const next: TenantRecord = { ...tenant, ...update };
    if (next.accessControl === 'jwt' && next.jwt === undefined) {
      throw ApiError.unprocessable([{ reason: 'required', property: 'jwt', message: 'accessControl "jwt" needs jwt settings: a key (secret, jwks or jwksUrl) and a policy.' }]);
    }
    await this.save(next);
    return configurationView(next);
  }

  /** Creates an HS256 key with which backends mint connect tokens themselves; its secret is shown once. */
  async createSigningKey(tenant: TenantRecord): Promise<{ kid: string; secret: string; algorithm: 'HS256'; createdAt: string }> {
    const keys = tenant.signingKeys ?? [];
    if (keys.length >= MAX_SIGNING_KEYS) {
      throw new ApiError(409, 'too_many_signing_keys', `A tenant has at most ${MAX_SIGNING_KEYS} signing keys; delete one first.`);
    }
    const key: SigningKey = { kid: randomToken('key_').slice(0, 24), secret: randomToken(), createdAt: Date.now() };
    await this.save({ ...tenant, signingKeys: [...keys, key] });
    return { kid: key.kid, secret: key.secret, algorithm: 'HS256', createdAt: new Date(key.createdAt).toISOString() };
  }

  listSigningKeys(tenant: TenantRecord): { results: { kid: string; createdAt: string }[] } {
    return { results: (tenant.signingKeys ?? []).map((k) => ({ kid: k.kid, createdAt: new Date(k.createdAt).toISOString() })) };
  }

  async deleteSigningKey(tenant: TenantRecord, kid: string): Promise<Record<string, never>> {
    const keys = tenant.signingKeys ?? [];
    if (!keys.some((k) => k.kid === kid)) throw new ApiError(404, 'signing_key_not_found', `No signing key "${kid}".`);
    await this.save({ ...tenant, signingKeys: keys.filter((k) => k.kid !== kid) });
    return {};
  }

  /** Replaces the tenant's webhooks. */
  async saveWebhooks(tenant: TenantRecord, webhooks: WebhookRecord[]): Promise<void> {
    await this.save({ ...tenant, webhooks });
  }

  /** Stores what shard k needs to know about its tenant (called on shard k by shard 0). */
  adopt(record: ShardRecord): void {
    this.storage.kv.put(SHARD_KEY, record);
    this.shardRecordCache = record;
    this.changed();
  }

  private shardRecord(): ShardRecord | null {
    if (this.shardRecordCache === undefined) this.shardRecordCache = this.storage.kv.get<ShardRecord>(SHARD_KEY) ?? null;
    return this.shardRecordCache;
  }

  /** Drops what memory holds, after the object's storage was erased. */
  forget(): void {
    this.tenantCache = undefined;
    this.shardRecordCache = undefined;
    this.verifiedSecurityTokens.clear();
  }

  /** Saves the tenant record and hands every other shard the part it needs. */
  private async save(record: TenantRecord): Promise<void> {
    this.storage.kv.put(TENANT_KEY, record);
    this.tenantCache = record;
    this.verifiedSecurityTokens.clear();
    this.changed();
    const others = allShards(layoutOf(record)).filter((k) => k !== 0);
    await this.shards.each(record.name, others, (hub, shard) => hub.shardAdopt(shardRecordFor(record, shard)));
  }
}
