/**
 * What a webhook receives (the shapes are in the protocol file): events and the body of one delivery.
 * Deliveries follow the Standard Webhooks specification (https://www.standardwebhooks.com/): one POST carries
 * one or more events, signed over `webhook-id.webhook-timestamp.body`.
 */

export { WEBHOOK_EVENT_TYPES } from '../../sdk/src/protocol';
export type {
  ClosedBy,
  SocketDisconnectedData,
  SocketEventData,
  SocketMessageData,
  TagEventData,
  WebhookEvent,
  WebhookEventType,
  WebhookPayload,
} from '../../sdk/src/protocol';
import type { WebhookEvent } from '../../sdk/src/protocol';

/** Builds an event with a fresh id. */
export function webhookEvent<E extends WebhookEvent>(type: E['type'], data: E['data'], at: number): E {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let id = 'evt_';
  for (const byte of bytes) id += byte.toString(16).padStart(2, '0');
  return { id, type, timestamp: new Date(at).toISOString(), data } as E;
}

/** The body of a delivery, built from events already serialized, so a retry sends the same bytes. */
export function payloadBody(tenant: string, eventsJson: readonly string[]): string {
  return `{"tenant":${JSON.stringify(tenant)},"events":[${eventsJson.join(',')}]}`;
}
