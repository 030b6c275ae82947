/**
 * What a webhook receives: the events, their fields and the body of one delivery. Pure data, no runtime state.
 * Deliveries follow the Standard Webhooks specification (https://www.standardwebhooks.com/): one POST carries
 * one or more events, signed over `webhook-id.webhook-timestamp.body`.
 */

export const WEBHOOK_EVENT_TYPES = ['socket.connected', 'socket.disconnected', 'socket.message', 'tag.occupied', 'tag.vacated'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Who ended a connection: the client (its close frame, or the connection dropped), the backend
 * (`DELETE /v1/sockets/{id}`), the keepalive sweep, a limit (flood or frame size), a newer connection with the same
 * id, a failed send, or a restart of the service that dropped every connection of the object.
 */
export type ClosedBy = 'client' | 'backend' | 'keepalive' | 'limit' | 'replaced' | 'error' | 'restart';

/** The socket an event is about. `user` is the `sub` of the token it was opened with (jwt mode), else null. */
export interface SocketEventData {
  id: string;
  tags: string[];
  user: string | null;
  connectedAt: string;
}

export interface SocketDisconnectedData extends SocketEventData {
  code: number;
  reason: string;
  closedBy: ClosedBy;
}

/** A text frame the client sent (tenants with `clientMessages: "webhook"`). */
export interface SocketMessageData extends SocketEventData {
  data: string;
}

/** The first socket with the tag connected (occupied), or the last one left (vacated), on any shard of the tenant. */
export interface TagEventData {
  tag: string;
}

interface EventOf<T extends WebhookEventType, D> {
  /** Unique per event; the same in every retry. */
  id: string;
  type: T;
  /** When it happened. */
  timestamp: string;
  data: D;
}

export type WebhookEvent =
  | EventOf<'socket.connected', SocketEventData>
  | EventOf<'socket.disconnected', SocketDisconnectedData>
  | EventOf<'socket.message', SocketMessageData>
  | EventOf<'tag.occupied', TagEventData>
  | EventOf<'tag.vacated', TagEventData>;

/** The JSON body of one delivery: the tenant's name and its events, oldest first. */
export interface WebhookPayload {
  tenant: string;
  events: WebhookEvent[];
}

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
