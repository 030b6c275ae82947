import { historyPolicy, type HistorySettings } from './history-rules';
import type { ConfigurationView, TenantInfo } from '../../sdk/src/protocol';
import type { JwtSettings, SigningKey } from './jwt';
import { SINGLE_SHARD, type ShardLayout } from './shards';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from './limits';
import type { AccessControl } from './validation';

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
  /** What the tenant chose; defaults and the operator's caps apply on top (historyPolicy). */
  history?: Partial<HistorySettings>;
}

/** What shard k > 0 of a tenant stores: enough to accept and serve its own sockets. Shard 0 keeps it current. */
export interface ShardRecord {
  tenant: string;
  shard: number;
  layout: ShardLayout;
  limits: Partial<TenantLimits>;
  signingKeys: SigningKey[];
  history?: Partial<HistorySettings>;
}

export type { ConfigurationView, TenantInfo };


export function limitsOf(record: { limits?: Partial<TenantLimits> }): TenantLimits {
  return { ...DEFAULT_TENANT_LIMITS, ...record.limits };
}

export function layoutOf(tenant: TenantRecord): ShardLayout {
  return tenant.layout ?? SINGLE_SHARD;
}

/** The record shard k needs, derived from the tenant's. */
export function shardRecordFor(tenant: TenantRecord, shard: number): ShardRecord {
  return { tenant: tenant.name, shard, layout: layoutOf(tenant), limits: tenant.limits ?? {}, signingKeys: tenant.signingKeys ?? [], history: tenant.history ?? {} };
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
  };
}

export function configurationView(tenant: TenantRecord): ConfigurationView {
  const { secret, ...jwt } = tenant.jwt ?? ({} as Partial<JwtSettings>);
  return {
    accessControl: tenant.accessControl,
    jwt: tenant.jwt === undefined ? null : ({ ...jwt, ...(secret !== undefined ? { secret: 'configured' } : {}) } as ConfigurationView['jwt']),
    limits: limitsOf(tenant),
    shards: layoutOf(tenant).shards,
    history: historySettingsOf(tenant),
  };
}

/** The history settings in force for a tenant or shard record (without the byte cap, which is the operator's alone). */
export function historySettingsOf(record: { history?: Partial<HistorySettings>; limits?: Partial<TenantLimits> }): HistorySettings {
  const { mode, maxAgeSeconds, maxMessages } = historyPolicy(record.history, limitsOf(record));
  return { mode, maxAgeSeconds, maxMessages };
}
