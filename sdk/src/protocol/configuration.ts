// ---- Configuration ----

/** `custom`: the security token on every call. `none`: connect and push need no token. `jwt`: end users' own tokens. */
export const ACCESS_CONTROL_MODES = ['custom', 'none', 'jwt'] as const;
export type AccessControl = (typeof ACCESS_CONTROL_MODES)[number];

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
export const HISTORY_MODES = ['auto', 'always'] as const;
export type HistoryMode = (typeof HISTORY_MODES)[number];

/** `history` of `GET`/`PUT /v1/configuration`: kept for `maxAgeSeconds`, at most `maxMessages` per shard. */
export interface HistorySettings {
  mode: HistoryMode;
  maxAgeSeconds: number;
  maxMessages: number;
}

/** What the service does with text frames clients send: nothing (raw mode, the default), or `socket.message` webhooks. */
export const CLIENT_MESSAGES_MODES = ['ignore', 'webhook'] as const;
export type ClientMessages = (typeof CLIENT_MESSAGES_MODES)[number];

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
