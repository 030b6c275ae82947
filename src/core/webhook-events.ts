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
import { randomHexId } from './tokens';

/** Builds an event with a fresh id. */
export function webhookEvent<E extends WebhookEvent>(type: E['type'], data: E['data'], at: number): E {
  return { id: randomHexId('evt_', 12), type, timestamp: new Date(at).toISOString(), data } as E;
}

/** The body of a delivery, built from events already serialized, so a retry sends the same bytes. */
export function payloadBody(tenant: string, eventsJson: readonly string[]): string {
  return `{"tenant":${JSON.stringify(tenant)},"events":[${eventsJson.join(',')}]}`;
}
