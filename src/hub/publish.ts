import type { IdempotencyClaim } from '../core/idempotency-key';
import { layoutOf, type TenantRecord } from '../core/tenant-record';
import type { Receivers } from '../core/validation';
import { fanOut } from './fan-out';
import type { IdempotencyKeys, KeyedPush } from './idempotency';
import type { ShardCalls } from './shard-calls';

/** A message as shards deliver it: the id clients see, and text or bytes. */
export interface OutboundMessage {
  id: string;
  data: string | Uint8Array;
}

export interface Published {
  id: string;
  sent: number;
  /** The answer repeats the first request with this Idempotency-Key; nothing was sent. */
  replayed: boolean;
}

/**
 * `POST /v1/messages` on shard 0: one push to every shard it reaches, once per Idempotency-Key. A one-shard tenant
 * checks the key, delivers and records the answer in one synchronous step; a sharded one records the key in flight
 * (409 to a concurrent repeat), each shard as it completes, and on a partial failure what is left for a retry.
 */
export class Publisher {
  constructor(
    private readonly shards: ShardCalls,
    private readonly keys: IdempotencyKeys,
  ) {}

  async publish(tenant: TenantRecord, data: string | Uint8Array, receivers: Receivers, claim: IdempotencyClaim | null, spend: () => void): Promise<Published> {
    const layout = layoutOf(tenant);
    const single = layout.shards === 1 && layout.previous.length === 0;
    const now = Date.now();
    const start = claim === null ? null : this.keys.check(claim.key, claim.fingerprint, now);
    if (start !== null && 'replay' in start) return { ...start.replay, replayed: true };
    spend();
    const keyed: KeyedPush | null = start?.deliver ?? null;
    const message: OutboundMessage = { id: keyed?.messageId ?? crypto.randomUUID(), data };
    if (single) {
      const sent = await this.shards.one(tenant.name, 0, (hub) => hub.shardDeliver(receivers, message));
      if (claim !== null && keyed !== null) {
        keyed.done.set(0, sent);
        this.keys.finish(claim.key, claim.fingerprint, keyed, now);
      }
      return { id: message.id, sent, replayed: false };
    }
    if (claim === null || keyed === null) return { id: message.id, sent: await fanOut(this.shards, tenant, receivers, message), replayed: false };
    this.keys.begin(claim.key, claim.fingerprint, keyed, now);
    try {
      await fanOut(this.shards, tenant, receivers, message, { done: keyed.done, onShardDone: (shard, sent) => this.keys.shardDone(claim.key, keyed, shard, sent) });
    } catch (err) {
      this.keys.partial(claim.key);
      throw err;
    }
    return { id: message.id, sent: this.keys.finish(claim.key, claim.fingerprint, keyed, Date.now()), replayed: false };
  }
}
