import { historyPolicy, type HistoryPolicy } from '../core/history-rules';
import type { SigningKey } from '../core/jwt';
import type { TenantLimits } from '../core/limits';
import type { ShardLayout } from '../core/shards';
import { layoutOf, limitsOf, type ShardRecord, type TenantRecord } from '../core/tenant-record';
import type { ClientMessages } from '../core/validation';
import type { WebhookRecord } from '../core/webhook-record';

/** Where this object stands in its tenant: shard 0 holds the tenant record, shard k > 0 a copy of what it needs. */
export interface Placement {
  tenant: string;
  /** Tells this tenant from an earlier one of the same name. */
  createdAt: number;
  shard: number;
  layout: ShardLayout;
  limits: TenantLimits;
  signingKeys: SigningKey[];
  webhooks: WebhookRecord[];
  clientMessages: ClientMessages;
  /** What this shard's history keeps: the tenant's settings within the operator's caps. */
  history: HistoryPolicy;
}

/** What this object needs to raise webhook events. */
export interface EventSettings {
  shard: number;
  webhooks: WebhookRecord[];
  clientMessages: ClientMessages;
}

/** One shared empty list, so subscriptions computed for "no webhooks" are cached once. */
export const NO_WEBHOOKS: WebhookRecord[] = [];

/** Shard 0's placement, from the tenant record. */
export function tenantPlacement(tenant: TenantRecord): Placement {
  const limits = limitsOf(tenant);
  return {
    tenant: tenant.name,
    createdAt: tenant.createdAt,
    shard: 0,
    layout: layoutOf(tenant),
    limits,
    signingKeys: tenant.signingKeys ?? [],
    webhooks: tenant.webhooks ?? NO_WEBHOOKS,
    clientMessages: tenant.clientMessages ?? 'ignore',
    history: historyPolicy(tenant.history, limits),
  };
}

/** Shard k's placement, from the copy shard 0 handed it. */
export function shardPlacement(shard: ShardRecord): Placement {
  const limits = limitsOf(shard);
  return {
    tenant: shard.tenant,
    createdAt: shard.createdAt,
    shard: shard.shard,
    layout: shard.layout,
    limits,
    signingKeys: shard.signingKeys,
    webhooks: shard.webhooks ?? NO_WEBHOOKS,
    clientMessages: shard.clientMessages ?? 'ignore',
    history: historyPolicy(shard.history, limits),
  };
}
