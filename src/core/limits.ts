import type { TenantLimits } from '../../sdk/src/protocol';

/**
 * Every limit of the service, in one place. The README's "Limits" table lists the same numbers.
 * Platform limits: https://developers.cloudflare.com/durable-objects/platform/limits/
 */

// ---- Requests ----

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Receivers of one message. */
export const MAX_RECEIVER_SOCKETS = 1000;
export const MAX_RECEIVER_TAGS = 100;
/** Socket pages: `GET /v1/sockets?limit=` defaults to and is capped at this. */
export const MAX_LIST_LIMIT = 1000;
/** Entries of a `tags` list in `POST /v1/sockets`, duplicates included (at most MAX_TAGS_PER_SOCKET distinct). */
export const MAX_SOCKET_TAG_ITEMS = 100;
/** Keys in a tenant's `jwt.jwks` document. */
export const MAX_JWKS_KEYS = 50;
/** Problems listed in one 422; the rest are counted in one last `too_many_errors` entry. */
export const MAX_FIELD_ERRORS = 20;

// ---- Sockets ----

/**
 * The platform refuses a hibernation tag over 256 bytes of UTF-8 (its error says "characters"; it counts bytes).
 * https://developers.cloudflare.com/durable-objects/api/state/#acceptwebsocket
 */
export const MAX_HIBERNATION_TAG_BYTES = 256;
/** Hibernation tags carry a 4-byte kind prefix, `sid:` or `tag:` (core/receivers.ts). */
export const HIBERNATION_TAG_PREFIX_BYTES = 4;
/** Socket ids: ASCII only, so characters are bytes. */
export const MAX_ID_LENGTH = 128;
/** Tags: UTF-8 bytes, what is left of a hibernation tag after its prefix. */
export const MAX_TAG_BYTES = MAX_HIBERNATION_TAG_BYTES - HIBERNATION_TAG_PREFIX_BYTES;
/**
 * The platform allows 10 tags per hibernatable WebSocket, and the socket id takes one.
 * https://developers.cloudflare.com/durable-objects/api/state/#acceptwebsocket
 */
export const MAX_TAGS_PER_SOCKET = 9;
/** WebSocket close reasons must fit in 123 UTF-8 bytes, or `close()` throws. */
export const MAX_CLOSE_REASON_BYTES = 123;
/**
 * The platform refuses the 32,769th hibernatable WebSocket of one object, closing ones included;
 * we stop below it so the refusal is ours, with a clear reason.
 */
export const MAX_SOCKETS_PER_OBJECT = 32_000;
/** A push-only socket that sends more than this many non-`ping` messages in the window is closed with 1008. */
export const CLIENT_MESSAGES_PER_WINDOW = 20;
export const CLIENT_MESSAGE_WINDOW_MS = 10_000;
/** How often the object recounts its sockets for the cap; in between it counts what it accepted. */
export const SOCKET_RECOUNT_MS = 1000;

// ---- Tenants ----

/** At most two security tokens are valid at once: the newest and the one it replaced. */
export const MAX_SECURITY_TOKENS = 2;
/** Backend signing keys for connect JWTs. */
export const MAX_SIGNING_KEYS = 3;
/** Most shards one tenant may have: 64 x 32,000 sockets. */
export const MAX_SHARDS = 64;
/** While sockets placed by an earlier shard count remain, shard 0 checks this often whether they are gone. */
export const PREVIOUS_LAYOUT_RECHECK_MS = 10 * 60_000;
/** Tenant shard layouts a Worker isolate remembers for routing backend-minted connect tokens, and for how long. */
export const MAX_CACHED_LAYOUTS = 10_000;
export const LAYOUT_CACHE_MS = 60_000;

/** Per-tenant caps the operator sets through the admin API. */
export type { TenantLimits };

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  pushesPerSecond: 1000,
  connectsPerSecond: 500,
  maxSockets: MAX_SOCKETS_PER_OBJECT,
};

/** Allowed [min, max] of each limit. */
export const LIMIT_RANGES: Record<keyof TenantLimits, [number, number]> = {
  pushesPerSecond: [1, 100_000],
  connectsPerSecond: [1, 100_000],
  maxSockets: [1, MAX_SOCKETS_PER_OBJECT],
};

/** Burst size for a sustained per-second rate. */
export const burstFor = (perSecond: number): number => perSecond * 2;

// ---- Tokens ----

/** Backend-minted connect tokens may be valid for at most this long, which bounds what replay protection stores. */
export const MAX_CONNECT_JWT_LIFETIME_SECONDS = 3600;
/** Clock skew accepted on `exp`, `nbf` and `iat`. */
export const JWT_CLOCK_TOLERANCE_SECONDS = 5;
/** HS256 secrets a tenant configures for end-user JWTs. */
export const MIN_HS256_SECRET_LENGTH = 32;
/** Entries in each of a jwt policy's `read` and `write` lists, and their length. */
export const MAX_POLICY_ENTRIES = 100;
export const MAX_POLICY_ENTRY_LENGTH = 256;
/** Connect-token reservations an object keeps in memory; past it, connects read storage. */
export const MAX_REMEMBERED_RESERVATIONS = 50_000;
/** Security tokens already verified, kept in memory (a tenant has at most MAX_SECURITY_TOKENS). */
export const MAX_VERIFIED_TOKENS = 4;
