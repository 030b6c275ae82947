/**
 * The wire protocol of MWS: every REST request and response body, and every WebSocket close code, exactly as the
 * service accepts and sends them. The service and the SDK both import this one file, so it has no imports and
 * uses no DOM or Workers types.
 *
 * Request shapes are the full form the SDK sends and the service's validation returns; where the service also
 * accepts a key left out, the comment says what it counts as. Times are ISO 8601 strings.
 */

// ---- Errors ----

/** Every non-2xx answer except 422: `{"error": {reason, message}}`. */
export interface ErrorEnvelope {
  error: { reason: string; message: string };
}

/** One field-level problem in a request body. */
export interface FieldError {
  /** One of FieldErrorReason. */
  reason: string;
  /** The field's path (`data`, `receivers.tags[1]`), or null for the body as a whole. */
  property: string | null;
  message: string;
}

/** A 422 answer: the problems of the body, at most 20, then one `too_many_errors` entry counting the rest. */
export interface ValidationErrorEnvelope {
  errors: FieldError[];
}

/** `error.reason` values the service documents (README, "Statuses and error reasons"). */
export type ErrorReason =
  | 'unauthorized'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'invalid_signature'
  | 'invalid_audience'
  | 'invalid_issuer'
  | 'invalid_claims'
  | 'unsupported_algorithm'
  | 'invalid_token'
  | 'forbidden'
  | 'admin_api_disabled'
  | 'tenant_not_found'
  | 'socket_not_found'
  | 'signing_key_not_found'
  | 'not_found'
  | 'method_not_allowed'
  | 'tenant_exists'
  | 'too_many_signing_keys'
  | 'too_many_webhooks'
  | 'webhook_not_found'
  | 'payload_too_large'
  | 'upgrade_required'
  | 'rate_limited'
  | 'internal_error'
  | 'service_unavailable'
  | 'tenant_full'
  | 'partial_delivery'
  | 'key_set_unavailable';

/** `errors[].reason` values of a 422 answer. */
export type FieldErrorReason = 'invalid_json' | 'invalid_encoding' | 'invalid_type' | 'required' | 'invalid_value' | 'too_long' | 'too_many' | 'too_many_errors';

// ---- Service ----

/** `GET /` on any host: `tenant` is null on a host that names no tenant. */
export interface ServiceInfo {
  name: string;
  version: string;
  tenant: string | null;
}

/** The body of `DELETE` answers and other calls with nothing to report. */
export type EmptyResult = Record<string, never>;

// ---- Messages ----

/** Who gets a message: the union of socket ids (`["*"]` for every socket) and tags; each socket gets it once. */
export interface Receivers {
  sockets: string[] | null;
  tags: string[] | null;
}

/**
 * `POST /v1/messages`: text in `data`, or bytes in `dataBase64` (standard base64), exactly one of them. `receivers`
 * is required; a missing `sockets` or `tags` key counts as null. Send an `Idempotency-Key` header to make retries safe.
 */
export type PushRequest = TextPushRequest | BinaryPushRequest;

export interface TextPushRequest {
  data: string;
  receivers: Receivers;
}

/** Raw sockets get the bytes as one binary frame; mws.v2 sockets a binary frame with a header (decodeBinaryMessage). */
export interface BinaryPushRequest {
  dataBase64: string;
  receivers: Receivers;
}

/** `201` answer of `POST /v1/messages` for text. */
export interface PushResult {
  /** The message id; mws.v2 envelopes carry it. The same on every retry with one Idempotency-Key. */
  id: string;
  data: string;
  /** The receivers as the service read them: both keys, each a list or null. */
  receivers: Receivers;
  /** How many sockets the message was written to (or, for paused mws.v2 sockets, queued for); 0 is a success. */
  sent: number;
}

/** `201` answer of `POST /v1/messages` for bytes. */
export interface BinaryPushResult {
  id: string;
  dataBase64: string;
  receivers: Receivers;
  sent: number;
}

/** The request header that makes `POST /v1/messages` safe to retry; a repeat within 24 h answers the first response. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Set to `true` on an answer that repeats the first response to the same Idempotency-Key (nothing was sent again). */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

// ---- Sockets ----

/** `POST /v1/sockets`. Both keys may be left out (an empty body is `{}`): `id` then counts as null, `tags` as []. */
export interface SocketRequest {
  /** The socket id; null lets the service pick a UUID. Reusing a connected id replaces that socket (closed with 4003). */
  id: string | null;
  /** Up to 9 distinct tags of at most 252 bytes of UTF-8 each; duplicates are removed (at most 100 entries). */
  tags: string[];
}

/** `201` answer of `POST /v1/sockets`: a reserved socket and its single-use connect uri. */
export interface SocketUri {
  id: string;
  /** `ws://` or `wss://`, on the host (and gateway prefix) the backend called; works once, before `expiresAt`. */
  uri: string;
  expiresAt: string;
  tags: string[];
}

/** `200` answer of `GET /v1/websocket_uri`: the original server's keys, a connect uri for an untagged socket. */
export interface WebsocketUri {
  uri: string;
  expiresAt: string;
  tags: string[];
}

/** A connected socket: `GET /v1/sockets/{id}` and each item of `GET /v1/sockets`. */
export interface SocketInfo {
  id: string;
  connectedAt: string;
  tags: string[];
}

/** Query of `GET /v1/sockets`: `limit` 1 to 1000 (default 1000), `cursor` from the previous page. */
export interface SocketListQuery {
  limit?: number;
  cursor?: string | null;
}

/** `200` answer of `GET /v1/sockets`: one page, and the cursor of the next (null on the last page). */
export interface SocketPage {
  results: SocketInfo[];
  cursor: string | null;
}

/** The largest and default page size of `GET /v1/sockets`. */
export const MAX_SOCKET_PAGE_SIZE = 1000;

// ---- Configuration ----

/** `custom`: the security token on every call. `none`: connect and push need no token. `jwt`: end users' own tokens. */
export type AccessControl = 'custom' | 'none' | 'jwt';

export const ACCESS_CONTROL_MODES: readonly AccessControl[] = ['custom', 'none', 'jwt'];

/** Who may read (connect) and write (push) in `jwt` mode: `*`, `user:<sub>` or `group:<name>` entries. */
export interface AccessPolicy {
  read: string[];
  write: string[];
}

/** One JSON Web Key (RFC 7517): `kty` and whatever parameters its type has. */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  [parameter: string]: unknown;
}

export interface JwkSet {
  keys: Jwk[];
}

/**
 * `jwt` settings as `PUT /v1/configuration` accepts them. Exactly one of `secret` (HS256, at least 32 characters),
 * `jwks` or `jwksUrl` (https; RS256/ES256).
 */
export interface JwtSettingsInput {
  secret?: string;
  jwks?: JwkSet;
  jwksUrl?: string;
  /** When set, must equal the token's `iss`. */
  issuer?: string;
  /** When set, must match the token's `aud`. */
  audience?: string;
  policy: AccessPolicy;
  /** The claim listing the user's groups, for `group:` entries. Default "groups". */
  groupsClaim?: string;
  /** Tag sockets opened with a user's token `user:<sub>`. Default true. */
  subjectTag?: boolean;
}

/** `jwt` settings as the service stores them: the input with its defaults filled in. */
export interface JwtSettings extends JwtSettingsInput {
  groupsClaim: string;
  subjectTag: boolean;
}

/** `jwt` settings as `GET /v1/configuration` shows them: a shared secret is reported as present, never returned. */
export type JwtSettingsView = Omit<JwtSettings, 'secret'> & { secret?: 'configured' };

/** Per-tenant caps, set by the operator. */
export interface TenantLimits {
  /** Sustained pushes per second (bursts of twice that). */
  pushesPerSecond: number;
  /** Sustained WebSocket connection attempts per second, on each shard (bursts of twice that). */
  connectsPerSecond: number;
  /** Connected sockets at once, on each shard. */
  maxSockets: number;
  /** Longest history a tenant may keep (caps `history.maxAgeSeconds`). */
  historyMaxAgeSeconds: number;
  /** Most messages a tenant may keep per shard (caps `history.maxMessages`). */
  historyMaxMessages: number;
  /** Most bytes of message data kept per shard; the oldest go first past it. */
  historyMaxBytes: number;
}

/**
 * How a tenant's pushes are recorded for resume. `auto` records while mws.v2 sockets are connected, and for
 * `maxAgeSeconds` after the last one left (a tenant with only raw sockets stores nothing); `always` records every push.
 */
export type HistoryMode = 'auto' | 'always';

export const HISTORY_MODES: readonly HistoryMode[] = ['auto', 'always'];

/** `history` of `GET`/`PUT /v1/configuration`: kept for `maxAgeSeconds`, at most `maxMessages` per shard. */
export interface HistorySettings {
  mode: HistoryMode;
  maxAgeSeconds: number;
  maxMessages: number;
}

/** What the service does with text frames clients send: nothing (raw mode, the default), or `socket.message` webhooks. */
export type ClientMessages = 'ignore' | 'webhook';

export const CLIENT_MESSAGES_MODES: readonly ClientMessages[] = ['ignore', 'webhook'];

/** `200` answer of `GET` and `PUT /v1/configuration`. */
export interface ConfigurationView {
  accessControl: AccessControl;
  jwt: JwtSettingsView | null;
  limits: TenantLimits;
  shards: number;
  clientMessages: ClientMessages;
  /** The history settings in force: the tenant's, within the operator's caps. */
  history: HistorySettings;
}

/**
 * `PUT /v1/configuration`: replaces only the fields given (at least one). The service reads `jwt` into
 * `ConfigurationUpdate<JwtSettings>`, its defaults filled in. `history` changes only the settings it names.
 */
export interface ConfigurationUpdate<Jwt extends JwtSettingsInput = JwtSettingsInput> {
  accessControl?: AccessControl;
  jwt?: Jwt;
  clientMessages?: ClientMessages;
  history?: Partial<HistorySettings>;
}

// ---- Signing keys ----

/** `201` answer of `POST /v1/signing-keys`: the secret is shown this once. */
export interface SigningKeyCreated {
  kid: string;
  secret: string;
  algorithm: 'HS256';
  createdAt: string;
}

export interface SigningKeyInfo {
  kid: string;
  createdAt: string;
}

/** `200` answer of `GET /v1/signing-keys`. */
export interface SigningKeyList {
  results: SigningKeyInfo[];
}

// ---- Presence ----

/** `200` answer of `GET /v1/tags/{tag}?limit=&cursor=`: sockets with the tag on every shard, and one page of them. */
export interface TagPresence extends SocketPage {
  tag: string;
  count: number;
}

/** `200` answer of `GET /v1/presence?tags=a,b,c`: connected sockets per tag. */
export interface PresenceCounts {
  tags: Record<string, number>;
}

/** Tags in one `GET /v1/presence` call. */
export const MAX_PRESENCE_TAGS = 100;

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

// ---- Admin API ----

/**
 * `POST /admin/tenants`. Only `name` is required: `accessControl` defaults to "custom" ("jwt" is refused here),
 * `limits` to {}, `shards` to 1.
 */
export interface TenantCreateRequest {
  name: string;
  accessControl: AccessControl;
  limits: Partial<TenantLimits>;
  shards: number;
}

/** `201` answer of `POST /admin/tenants`: the security token is shown this once. */
export interface TenantCreated {
  name: string;
  securityToken: string;
  accessControl: AccessControl;
  limits: TenantLimits;
  shards: number;
}

/** `200` answer of `GET /admin/tenants/{name}`. */
export interface TenantInfo {
  name: string;
  accessControl: AccessControl;
  createdAt: string;
  /** How many security tokens are valid (1 or 2). */
  securityTokens: number;
  /** Connected sockets, on all shards. */
  sockets: number;
  limits: TenantLimits;
  shards: number;
  /** Earlier shard counts, newest first, that sockets still connected were placed by. */
  previousShards: number[];
}

/** `PUT /admin/tenants/{name}/limits` takes `Partial<TenantLimits>` and answers this. */
export interface LimitsResult {
  limits: TenantLimits;
}

/** `PUT /admin/tenants/{name}/shards`. */
export interface ShardsRequest {
  shards: number;
}

/** `200` answer of `PUT /admin/tenants/{name}/shards`: the new count and the earlier counts still searched. */
export interface ShardsResult {
  shards: number;
  previous: number[];
}

/** `201` answer of `POST /admin/tenants/{name}/security-tokens`. */
export interface SecurityTokenRotated {
  securityToken: string;
  validTokens: number;
}

/** `200` answer of `DELETE /admin/tenants/{name}/security-tokens/previous`. */
export interface SecurityTokensRevoked {
  validTokens: number;
}

// ---- WebSocket close codes ----

/** Close codes the MWS service sends (the same table as the service's README). */
export const CloseCode = {
  /** The tenant was deleted. Never reconnect. */
  TENANT_DELETED: 4000,
  /** A backend called DELETE /v1/sockets/{id}. Never reconnect. */
  REMOVED: 4001,
  /** The socket sent no `ping` for two keepalive intervals. Reconnect. */
  KEEPALIVE_TIMEOUT: 4002,
  /** A newer connection took this socket id. Never reconnect (the newer one would be kicked out in turn). */
  REPLACED: 4003,
  /** The client did not read what it was sent: its backlog passed the service's budget. Reconnect (v2 resumes). */
  SLOW_CLIENT: 4008,
  /** The connect token was missing, unknown, already used or expired. Reconnect only with a fresh uri. */
  INVALID_TOKEN: 4401,
  /** The tenant does not exist. Never reconnect. */
  TENANT_NOT_FOUND: 4404,
  /**
   * The client sent more than `ping`s (raw mode: its socket only receives), or, with `clientMessages: "webhook"`,
   * more messages than the flood limit allows. Fix the client before reconnecting.
   */
  POLICY_VIOLATION: 1008,
  /** With `clientMessages: "webhook"`: the client sent a frame over 8192 bytes. Fix the client before reconnecting. */
  MESSAGE_TOO_BIG: 1009,
  /** A send to the socket failed and the server dropped it. Reconnect. */
  SEND_FAILED: 1011,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes the client itself uses (3000-3999 is the range for libraries). */
export const ClientCloseCode = {
  /** The client closed the socket because no `pong` answered its `ping` in time. It reconnects. */
  PONG_TIMEOUT: 3000,
  /** `close()` was called. */
  NORMAL: 1000,
} as const;

/** The keepalive: a client sends this text frame, the service answers KEEPALIVE_PONG. */
export const KEEPALIVE_PING = 'ping';
export const KEEPALIVE_PONG = 'pong';

// ---- The mws.v2 subprotocol ----

/**
 * Offer this WebSocket subprotocol (`new WebSocket(uri, ['mws.v2'])`) for envelopes, resume and flow control; the
 * 101 answers it. Without it a connection is raw: each message's data as one frame, nothing else.
 */
export const V2_PROTOCOL = 'mws.v2';

/** First frame of every mws.v2 connection: where its stream starts, and the token to resume it with. */
export interface HelloFrame {
  type: 'hello';
  /** The socket id. */
  socket: string;
  /** The stream's epoch: it changes whenever its history was lost. */
  epoch: string;
  /** Messages that follow have a greater seq. After a successful resume it is the position resumed from. */
  seq: number;
  /** Resume on the next connect URI with `&resume=` resumeParam(last seq processed, this token). */
  resume: string;
  /** Bytes the service sends without an ack before it pauses this socket. */
  window: number;
  /** Present when the connection asked to resume: whether it did (false: a `resume_failed` frame follows). */
  resumed?: boolean;
}

/** A text message. Binary messages arrive as binary frames: decodeBinaryMessage. */
export interface MessageFrame {
  type: 'msg';
  seq: number;
  /** The `id` that `POST /v1/messages` answered. */
  id: string;
  data: string;
}

/** Why a resume (or the catch-up of a paused socket) could not replay everything. */
export type ResumeFailure =
  /** Malformed, forged, from another tenant, ahead of the stream, or older than the socket's first connection. */
  | 'invalid_position'
  /** The position belongs to another socket id. */
  | 'other_socket'
  /** This connection has other tags than the one the position came from. */
  | 'tags_changed'
  /** The tenant's shard count changed and this socket id now lives on another shard. */
  | 'moved'
  /** History was lost since the position: the tenant was deleted and recreated, or recording stopped. */
  | 'epoch_changed'
  /** Messages after the position are no longer kept (older than the age limit, or past the count). */
  | 'history_trimmed';

/** Some messages cannot be replayed: reload your state. Live messages follow, after `seq`. */
export interface ResumeFailedFrame {
  type: 'resume_failed';
  reason: ResumeFailure;
  message: string;
  seq: number;
}

/** Sent by the client: every message up to `seq` was processed (cumulative). */
export interface AckFrame {
  type: 'ack';
  seq: number;
}

/** Every text frame the service sends on a mws.v2 connection (besides `pong`). */
export type ServerFrame = HelloFrame | MessageFrame | ResumeFailedFrame;

/** The `resume` query parameter: the last seq the client processed and the token of its last `hello`. */
export function resumeParam(seq: number, token: string): string {
  return `${seq}.${token}`;
}

/** First byte of a binary mws.v2 frame that carries a message. */
export const BINARY_MESSAGE_KIND = 0x01;

/**
 * A binary message on a mws.v2 connection: byte 0 is BINARY_MESSAGE_KIND, bytes 1-8 the seq (unsigned 64-bit,
 * big-endian), byte 9 the length n of the message id, bytes 10 to 10+n-1 the id (ASCII), then the message's bytes.
 */
export function encodeBinaryMessage(seq: number, id: string, bytes: Uint8Array): Uint8Array {
  const frame = new Uint8Array(10 + id.length + bytes.byteLength);
  frame[0] = BINARY_MESSAGE_KIND;
  new DataView(frame.buffer).setBigUint64(1, BigInt(seq));
  frame[9] = id.length;
  for (let i = 0; i < id.length; i++) frame[10 + i] = id.charCodeAt(i);
  frame.set(bytes, 10 + id.length);
  return frame;
}

/** The seq, id and bytes of a binary mws.v2 message frame, or null when it is not one. */
export function decodeBinaryMessage(frame: Uint8Array): { seq: number; id: string; bytes: Uint8Array } | null {
  if (frame.byteLength < 10 || frame[0] !== BINARY_MESSAGE_KIND) return null;
  const idLength = frame[9] as number;
  if (frame.byteLength < 10 + idLength) return null;
  const seq = Number(new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(1));
  let id = '';
  for (let i = 10; i < 10 + idLength; i++) id += String.fromCharCode(frame[i] as number);
  return { seq, id, bytes: frame.subarray(10 + idLength) };
}
