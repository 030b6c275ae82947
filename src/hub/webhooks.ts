import { ApiError } from '../core/errors';
import { DEFAULT_PREVIOUS_SECRET_TTL_SECONDS, MAX_WEBHOOKS } from '../core/limits';
import { shardsEverUsed, type TenantRecord } from '../core/tenant-record';
import { newWebhookId, newWebhookSecret, webhookView, type WebhookRecord, type WebhookView } from '../core/webhook-record';
import type { WebhookCreate, WebhookUpdate } from '../core/webhook-validation';
import type { DeliveryList, SecretRotated, WebhookCreated } from '../../sdk/src/protocol';
import type { ShardCalls } from './shard-calls';
import type { TenantStore } from './tenant-store';

/** A request to manage webhooks, as one RPC: the tenant object answers it with the security token checked. */
export type WebhookCommand =
  | { kind: 'create'; input: WebhookCreate }
  | { kind: 'list' }
  | { kind: 'get'; id: string }
  | { kind: 'update'; id: string; update: WebhookUpdate }
  | { kind: 'delete'; id: string }
  | { kind: 'rotate'; id: string; previousSecretTtlSeconds: number | null }
  | { kind: 'deliveries'; id: string; limit: number };

/**
 * The webhooks of a tenant (shard 0): create, list, change, rotate secrets, delete, and read their deliveries.
 * Changes go through the tenant store one at a time and reach every shard with the record.
 */
export class Webhooks {
  constructor(
    private readonly store: TenantStore,
    private readonly shards: ShardCalls,
  ) {}

  async run(tenant: TenantRecord, command: WebhookCommand): Promise<unknown> {
    switch (command.kind) {
      case 'create':
        return this.create(command.input);
      case 'list':
        return { results: hooksOf(tenant).map((hook) => webhookView(hook, Date.now())) };
      case 'get':
        return webhookView(find(tenant, command.id), Date.now());
      case 'update':
        return this.update(command.id, command.update);
      case 'delete':
        return this.store.changeWebhooks((current) => {
          find(current, command.id);
          return { webhooks: hooksOf(current).filter((hook) => hook.id !== command.id), result: {} };
        });
      case 'rotate':
        return this.rotate(command.id, command.previousSecretTtlSeconds);
      case 'deliveries':
        return this.deliveries(tenant, command.id, command.limit);
    }
  }

  /** Disables a webhook (its deliveries kept failing, or it answered 410); every shard then drops its backlog. */
  async disable(id: string, reason: string): Promise<void> {
    await this.store.changeWebhooks((tenant) => {
      const hooks = hooksOf(tenant);
      const hook = hooks.find((h) => h.id === id);
      if (hook === undefined || hook.disabled !== null) return { webhooks: hooks, result: undefined };
      console.warn(`webhook ${id} of tenant ${tenant.name} disabled: ${reason}`);
      return { webhooks: replaced(hooks, { ...hook, disabled: { at: Date.now(), reason } }), result: undefined };
    });
  }

  private create(input: WebhookCreate): Promise<WebhookCreated> {
    return this.store.changeWebhooks((tenant) => {
      const hooks = hooksOf(tenant);
      if (hooks.length >= MAX_WEBHOOKS) throw new ApiError(409, 'too_many_webhooks', `A tenant has at most ${MAX_WEBHOOKS} webhooks; delete one first.`);
      const hook: WebhookRecord = { id: newWebhookId(), ...input, createdAt: Date.now(), secret: newWebhookSecret(), previousSecret: null, disabled: null };
      return { webhooks: [...hooks, hook], result: { ...webhookView(hook, Date.now()), secret: hook.secret } };
    });
  }

  private update(id: string, update: WebhookUpdate): Promise<WebhookView> {
    return this.store.changeWebhooks((tenant) => {
      const hook = find(tenant, id);
      const { enabled, ...fields } = update;
      const disabled = enabled === undefined ? hook.disabled : enabled ? null : (hook.disabled ?? { at: Date.now(), reason: 'disabled by the backend' });
      const next: WebhookRecord = { ...hook, ...fields, disabled };
      return { webhooks: replaced(hooksOf(tenant), next), result: webhookView(next, Date.now()) };
    });
  }

  private rotate(id: string, ttlSeconds: number | null): Promise<SecretRotated> {
    return this.store.changeWebhooks((tenant) => {
      const hook = find(tenant, id);
      const expiresAt = Date.now() + (ttlSeconds ?? DEFAULT_PREVIOUS_SECRET_TTL_SECONDS) * 1000;
      const next: WebhookRecord = { ...hook, secret: newWebhookSecret(), previousSecret: ttlSeconds === 0 ? null : { secret: hook.secret, expiresAt } };
      const result = { secret: next.secret, previousSecretExpiresAt: next.previousSecret === null ? null : new Date(expiresAt).toISOString() };
      return { webhooks: replaced(hooksOf(tenant), next), result };
    });
  }

  private async deliveries(tenant: TenantRecord, id: string, limit: number): Promise<DeliveryList> {
    find(tenant, id);
    const perShard = await this.shards.each(tenant.name, shardsEverUsed(tenant), (hub) => hub.shardDeliveries(id, limit));
    const results = perShard
      .flatMap((shard) => shard.results)
      .sort((a, b) => (a.attemptedAt < b.attemptedAt ? 1 : a.attemptedAt > b.attemptedAt ? -1 : 0))
      .slice(0, limit);
    return { results, backlog: perShard.reduce((sum, shard) => sum + shard.backlog, 0) };
  }
}

function hooksOf(tenant: TenantRecord): WebhookRecord[] {
  return tenant.webhooks ?? [];
}

function replaced(hooks: WebhookRecord[], hook: WebhookRecord): WebhookRecord[] {
  return hooks.map((h) => (h.id === hook.id ? hook : h));
}

function find(tenant: TenantRecord, id: string): WebhookRecord {
  const hook = hooksOf(tenant).find((h) => h.id === id);
  if (hook === undefined) throw new ApiError(404, 'webhook_not_found', `No webhook "${id}".`);
  return hook;
}
