import type { WebhookEventType, WebhookView } from '../../sdk/src/protocol';
import { randomHexId } from './tokens';

export type { WebhookView };

/** A webhook as the tenant record stores it (shard 0) and hands it to every shard, which deliver their own events. */
export interface WebhookRecord {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: number;
  /** The signing secret, `whsec_` + base64 of 32 random bytes. */
  secret: string;
  /** After a rotation, the previous secret signs too (a second signature) until `expiresAt`. */
  previousSecret: { secret: string; expiresAt: number } | null;
  /** Set when deliveries failed for too long, the receiver answered 410, or the backend disabled it. */
  disabled: { at: number; reason: string } | null;
}

export function webhookView(hook: WebhookRecord, now: number): WebhookView {
  const previous = hook.previousSecret !== null && hook.previousSecret.expiresAt > now ? hook.previousSecret : null;
  return {
    id: hook.id,
    url: hook.url,
    events: hook.events,
    description: hook.description,
    createdAt: new Date(hook.createdAt).toISOString(),
    enabled: hook.disabled === null,
    disabled: hook.disabled === null ? null : { at: new Date(hook.disabled.at).toISOString(), reason: hook.disabled.reason },
    previousSecretExpiresAt: previous === null ? null : new Date(previous.expiresAt).toISOString(),
  };
}

/** The secrets that sign a delivery at `now`: the current one, and the previous one until it expires. */
export function signingSecrets(hook: WebhookRecord, now: number): string[] {
  return hook.previousSecret !== null && hook.previousSecret.expiresAt > now ? [hook.secret, hook.previousSecret.secret] : [hook.secret];
}

/** A fresh Standard Webhooks secret: `whsec_` and base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

export function newWebhookId(): string {
  return randomHexId('whk_', 9);
}

/** Which event types any enabled webhook wants, and which webhooks want each. */
export interface Subscriptions {
  any: boolean;
  byType: Map<WebhookEventType, string[]>;
}

const NONE: Subscriptions = { any: false, byType: new Map() };
const cache = new WeakMap<readonly WebhookRecord[], Subscriptions>();

/** The subscriptions of a list of webhooks, computed once per list (records are replaced, never mutated). */
export function subscriptionsOf(webhooks: readonly WebhookRecord[] | undefined): Subscriptions {
  if (webhooks === undefined || webhooks.length === 0) return NONE;
  let subs = cache.get(webhooks);
  if (subs === undefined) {
    const byType = new Map<WebhookEventType, string[]>();
    for (const hook of webhooks) {
      if (hook.disabled !== null) continue;
      for (const type of hook.events) byType.set(type, [...(byType.get(type) ?? []), hook.id]);
    }
    subs = { any: byType.size > 0, byType };
    cache.set(webhooks, subs);
  }
  return subs;
}
