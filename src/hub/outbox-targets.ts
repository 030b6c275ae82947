import type { Config } from '../core/config';
import type { Attempt } from '../core/webhook-delivery';
import type { Batch, OutboxHandlers } from './outbox';
import type { TagChange } from './presence';
import type { ShardCalls } from './shard-calls';
import { TAG_REPORTS_TARGET } from './socket-events';
import type { TenantStore } from './tenant-store';
import { postWebhook } from './webhook-post';

/**
 * Where the outbox's batches go: a webhook's URL (signed POST), or, for a shard's tag changes, shard 0 (RPC).
 * A target that must be given up is disabled on shard 0, which tells every shard.
 */
export function outboxHandlers(store: TenantStore, shards: ShardCalls, config: Config): OutboxHandlers {
  return {
    async send(batch: Batch): Promise<Attempt> {
      const settings = store.eventSettings();
      const tenant = store.placement()?.tenant;
      if (settings === null || tenant === undefined) return failed('this object has no tenant');
      if (batch.target === TAG_REPORTS_TARGET) return reportTags(shards, tenant, settings.shard, batch);
      const hook = settings.webhooks.find((h) => h.id === batch.target);
      if (hook === undefined || hook.disabled !== null) return failed('the webhook was deleted or disabled');
      return postWebhook(hook, tenant, batch.messageId, batch.events.map((e) => e.json), config.allowHttpWebhooks);
    },
    recorded: (target) => target !== TAG_REPORTS_TARGET,
    giveUp(target: string, reason: string): void {
      const tenant = store.placement()?.tenant;
      if (tenant === undefined || target === TAG_REPORTS_TARGET) return;
      // Not awaited: the outbox calls this in the middle of its own work; shard 0 saves and tells every shard.
      setTimeout(() => {
        shards.one(tenant, 0, (hub) => hub.shardDisableWebhook(target, reason)).catch((err: unknown) => {
          console.error(`could not disable webhook ${target} of tenant ${tenant}`, String(err));
        });
      }, 0);
    },
  };
}

async function reportTags(shards: ShardCalls, tenant: string, shard: number, batch: Batch): Promise<Attempt> {
  const started = Date.now();
  const changes = batch.events.map((e) => ({ ...(JSON.parse(e.json) as TagChange), seq: e.seq }));
  try {
    await shards.one(tenant, 0, (hub) => hub.shardTagReports(shard, changes));
    return { ok: true, status: null, latencyMs: Date.now() - started, error: null, response: null, gone: false };
  } catch (err) {
    return failed(`shard 0 did not answer: ${String(err)}`);
  }
}

function failed(error: string): Attempt {
  return { ok: false, status: null, latencyMs: 0, error, response: null, gone: false };
}
