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

/** `POST /v1/messages`. `receivers` is required; a missing `sockets` or `tags` key counts as null. */
export interface PushRequest {
  data: string;
  receivers: Receivers;
}

/** `201` answer of `POST /v1/messages`. */
export interface PushResult {
  /** A fresh message id. */
  id: string;
  data: string;
  /** The receivers as the service read them: both keys, each a list or null. */
  receivers: Receivers;
  /** How many sockets the message was written to; 0 is a success (nobody matched). */
  sent: number;
}

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
}

/** `200` answer of `GET` and `PUT /v1/configuration`. */
export interface ConfigurationView {
  accessControl: AccessControl;
  jwt: JwtSettingsView | null;
  limits: TenantLimits;
  shards: number;
}

/**
 * `PUT /v1/configuration`: replaces only the fields given (at least one). The service reads `jwt` into
 * `ConfigurationUpdate<JwtSettings>`, its defaults filled in.
 */
export interface ConfigurationUpdate<Jwt extends JwtSettingsInput = JwtSettingsInput> {
  accessControl?: AccessControl;
  jwt?: Jwt;
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
  /** The connect token was missing, unknown, already used or expired. Reconnect only with a fresh uri. */
  INVALID_TOKEN: 4401,
  /** The tenant does not exist. Never reconnect. */
  TENANT_NOT_FOUND: 4404,
  /** The client sent more than `ping`s: its socket only receives. Fix the client before reconnecting. */
  POLICY_VIOLATION: 1008,
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
