// ---- Webhooks: management ----

export const WEBHOOK_EVENT_TYPES = ['socket.connected', 'socket.disconnected', 'socket.message', 'tag.occupied', 'tag.vacated'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** `POST /v1/webhooks`. `url` is https (http only to loopback where the operator allows it); `events` at least one. */
export interface WebhookCreateRequest {
  url: string;
  events: WebhookEventType[];
  description?: string | null;
}

/** `PUT /v1/webhooks/{id}`: only the fields given change; `enabled: true` re-enables a disabled webhook. */
export interface WebhookUpdateRequest {
  url?: string;
  events?: WebhookEventType[];
  description?: string | null;
  enabled?: boolean;
}

/** A webhook as `GET /v1/webhooks[/{id}]` shows it: never its secret. */
export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: string;
  enabled: boolean;
  /** Why and when deliveries stopped: failing for too long, 410 Gone, too large a backlog, or the backend. */
  disabled: { at: string; reason: string } | null;
  /** After a rotation, when the previous secret stops signing; null when one secret signs. */
  previousSecretExpiresAt: string | null;
}

/** `201` answer of `POST /v1/webhooks`: the signing secret (`whsec_...`) is shown this once. */
export interface WebhookCreated extends WebhookView {
  secret: string;
}

export interface WebhookList {
  results: WebhookView[];
}

/** `POST /v1/webhooks/{id}/secret`: how long the previous secret keeps signing; default 86400, 0 to 604800. */
export interface SecretRotationRequest {
  previousSecretTtlSeconds?: number;
}

/** `201` answer of `POST /v1/webhooks/{id}/secret`: the new secret, shown this once. */
export interface SecretRotated {
  secret: string;
  previousSecretExpiresAt: string | null;
}

/** One attempt to deliver a batch. `id` is its `webhook-id`: the same on every retry of that batch. */
export interface Delivery {
  id: string;
  attemptedAt: string;
  /** 1 for the first try of the batch, 2 for the first retry... */
  attempt: number;
  /** Events in the batch. */
  events: number;
  /** The receiver's HTTP status; null when none came (timeout, connection failed). */
  status: number | null;
  latencyMs: number;
  error: string | null;
  /** The first 256 characters of the receiver's answer. */
  response: string | null;
}

/** `200` answer of `GET /v1/webhooks/{id}/deliveries?limit=`: the latest attempts, newest first, and what waits. */
export interface DeliveryList {
  results: Delivery[];
  /** Events queued for this webhook on every shard and not delivered yet. */
  backlog: number;
}

// ---- Webhooks: what a receiver gets ----

/**
 * Who ended a connection: the client (its close frame, or the connection dropped), the backend
 * (`DELETE /v1/sockets/{id}`), the keepalive sweep, a limit (flood or frame size), a newer connection with the same
 * id, a failed send, or a restart of the service that dropped the object's connections.
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
  /** `evt_...`: unique per event, the same in every retry. */
  id: string;
  type: T;
  /** When it happened. */
  timestamp: string;
  data: D;
}

export type SocketConnectedEvent = EventOf<'socket.connected', SocketEventData>;
export type SocketDisconnectedEvent = EventOf<'socket.disconnected', SocketDisconnectedData>;
export type SocketMessageEvent = EventOf<'socket.message', SocketMessageData>;
export type TagOccupiedEvent = EventOf<'tag.occupied', TagEventData>;
export type TagVacatedEvent = EventOf<'tag.vacated', TagEventData>;

export type WebhookEvent = SocketConnectedEvent | SocketDisconnectedEvent | SocketMessageEvent | TagOccupiedEvent | TagVacatedEvent;

/**
 * The JSON body of one delivery (Standard Webhooks: headers `webhook-id`, `webhook-timestamp`, `webhook-signature`):
 * the tenant's name and one or more events, oldest first.
 */
export interface WebhookPayload {
  tenant: string;
  events: WebhookEvent[];
}
