import type { ConfigurationView, TenantInfo } from '../../sdk/src/protocol';
import { historyPolicy, type HistorySettings } from './history-rules';
import type { JwtSettings, SigningKey } from './jwt';
import { allShards, SINGLE_SHARD, type ShardLayout } from './shards';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from './limits';
import type { AccessControl, ClientMessages } from './validation';
import type { WebhookRecord } from './webhook-record';

/** What a tenant's own object (shard 0) stores about it. Security tokens are kept only as SHA-256 hashes, newest first. */
export interface TenantRecord {
  name: string;
  accessControl: AccessControl;
  createdAt: number;
  securityTokenHashes: string[];
  jwt?: JwtSettings;
  limits?: Partial<TenantLimits>;
  signingKeys?: SigningKey[];
  layout?: ShardLayout;
  /** Shards 0..reach-1 have held state of this tenant (the most it ever had): each gets the record, delete wipes all. */
  reach?: number;
  /** When the shard count last changed (epoch ms). */
  resizedAt?: number;
  webhooks?: WebhookRecord[];
  clientMessages?: ClientMessages;
  /** What the tenant chose for history; defaults and the operator's caps apply on top (historyPolicy). */
  history?: Partial<HistorySettings>;
}

/** What shard k > 0 of a tenant stores: enough to accept and serve its own sockets. Shard 0 keeps it current. */
export interface ShardRecord {
  tenant: string;
  /** The tenant's createdAt: tells a tenant from an earlier one of the same name. */
  createdAt: number;
  shard: number;
  layout: ShardLayout;
  limits: Partial<TenantLimits>;
  signingKeys: SigningKey[];
  webhooks?: WebhookRecord[];
  clientMessages?: ClientMessages;
  history?: Partial<HistorySettings>;
}

export type { ConfigurationView, TenantInfo };

export function limitsOf(record: { limits?: Partial<TenantLimits> }): TenantLimits {
  return { ...DEFAULT_TENANT_LIMITS, ...record.limits };
}

export function layoutOf(tenant: TenantRecord): ShardLayout {
  return tenant.layout ?? SINGLE_SHARD;
}

/** Every shard that ever held state of this tenant. */
export function shardsEverUsed(tenant: TenantRecord): number[] {
  return allShards({ shards: Math.max(tenant.reach ?? 1, layoutOf(tenant).shards), previous: layoutOf(tenant).previous });
}

/** The record shard k needs, derived from the tenant's. */
export function shardRecordFor(tenant: TenantRecord, shard: number): ShardRecord {
  return {
    tenant: tenant.name,
    createdAt: tenant.createdAt,
    shard,
    layout: layoutOf(tenant),
    limits: tenant.limits ?? {},
    signingKeys: tenant.signingKeys ?? [],
    webhooks: tenant.webhooks ?? [],
    clientMessages: tenant.clientMessages ?? 'ignore',
  };
}

/** What the operator reads about a tenant, with its count of connected sockets. */
export function tenantInfo(tenant: TenantRecord, sockets: number): TenantInfo {
  return {
    name: tenant.name,
    accessControl: tenant.accessControl,
    createdAt: new Date(tenant.createdAt).toISOString(),
    securityTokens: tenant.securityTokenHashes.length,
    sockets,
    limits: limitsOf(tenant),
    shards: layoutOf(tenant).shards,
    previousShards: layoutOf(tenant).previous,
  };
}

export function configurationView(tenant: TenantRecord): ConfigurationView {
  const { secret, ...jwt } = tenant.jwt ?? ({} as Partial<JwtSettings>);
  return {
    accessControl: tenant.accessControl,
    jwt: tenant.jwt === undefined ? null : ({ ...jwt, ...(secret !== undefined ? { secret: 'configured' } : {}) } as ConfigurationView['jwt']),
    limits: limitsOf(tenant),
    shards: layoutOf(tenant).shards,
    clientMessages: tenant.clientMessages ?? 'ignore',
    history: historySettingsOf(tenant),
  };
}

/** The history settings in force (without the byte cap, which is the operator's alone). */
export function historySettingsOf(record: { history?: Partial<HistorySettings>; limits?: Partial<TenantLimits> }): HistorySettings {
  const { mode, maxAgeSeconds, maxMessages } = historyPolicy(record.history, limitsOf(record));
  return { mode, maxAgeSeconds, maxMessages };
}
