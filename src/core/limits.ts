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
/** Open sockets per object: the most `maxSockets` can be. Closing sockets do not count (see the next limit). */
export const MAX_SOCKETS_PER_OBJECT = 32_000;
/**
 * The platform refuses the 32,769th hibernatable WebSocket of one object, closing ones included, and keeps a
 * socket the server closed until its client answers or its connection ends. Open plus closing sockets stop here,
 * so the refusal is ours (503), with a clear reason.
 */
export const MAX_HELD_SOCKETS_PER_OBJECT = 32_700;
/** A push-only socket that sends more than this many non-`ping` messages in the window is closed with 1008. */
export const CLIENT_MESSAGES_PER_WINDOW = 20;
export const CLIENT_MESSAGE_WINDOW_MS = 10_000;
/** How often the object recounts its sockets for the cap; in between it counts what it accepted and closed. */
export const SOCKET_RECOUNT_MS = 1000;

// ---- Backlog: bytes sent to a socket that its client has not shown it read (core/backlog.ts) ----

const MiB = 1024 * 1024;
/** A socket whose estimated backlog would pass this is closed with 4008. */
export const SOCKET_BACKLOG_BYTES = 2 * MiB;
/** When the sockets of one object together pass this, the ones with the largest backlog are closed with 4008. */
export const OBJECT_BACKLOG_BYTES = 16 * MiB;
/** What a client that reads is assumed to take at least, per second, between the `ping`s that prove it reads. */
export const ASSUMED_DRAIN_BYTES_PER_SECOND = MiB / 2;
/** The object budget never closes a socket whose backlog is below this. */
export const SHED_FLOOR_BYTES = MiB / 2;
/** The object budget never closes a socket whose client pinged within this long: it is reading. */
export const RECENT_PING_MS = 1000;
/** A socket the server closed and whose client has not answered after this long is reported by the sweep. */
export const CLOSING_GRACE_MS = 30_000;

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
/**
 * How long writes that need not hold a reply wait in memory, to be written in one batch: spent connect tokens (a token
 * is refused again at once, from memory; only a restart within this window could let it connect once more) and
 * webhook events (a restart within it loses them).
 */
export const WRITE_BEHIND_MS = 10;
/** Tenant names a Worker isolate remembers as existing (so it asks the tenant directory once a minute at most). */
export const MAX_CACHED_TENANTS = 10_000;
/** Durable Object ids an isolate (the Worker's, or an object's calling other shards) keeps by name, so it hashes each name once. */
export const MAX_CACHED_OBJECT_IDS = 10_000;
/** Webhook signing keys an isolate keeps imported, and for how long (a rotated-out secret drops out). */
export const MAX_CACHED_SIGNING_KEYS = 64;
export const SIGNING_KEY_CACHE_MS = 10 * 60_000;
export const TENANT_CACHE_MS = 60_000;
/** The tenant directory is split over this many objects by a hash of the name, so no one object carries every lookup. */
export const DIRECTORY_PARTS = 16;

/** Per-tenant caps the operator sets through the admin API. */
export type { TenantLimits };

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  pushesPerSecond: 1000,
  connectsPerSecond: 500,
  maxSockets: MAX_SOCKETS_PER_OBJECT,
  historyMaxAgeSeconds: 24 * 3600,
  historyMaxMessages: 100_000,
  historyMaxBytes: 64 * 1024 * 1024,
};

/** Allowed [min, max] of each limit. */
export const LIMIT_RANGES: Record<keyof TenantLimits, [number, number]> = {
  pushesPerSecond: [1, 100_000],
  connectsPerSecond: [1, 100_000],
  maxSockets: [1, MAX_SOCKETS_PER_OBJECT],
  historyMaxAgeSeconds: [1, 7 * 24 * 3600],
  historyMaxMessages: [1, 1_000_000],
  // The platform stores at most 10 GB per object: https://developers.cloudflare.com/durable-objects/platform/limits/
  historyMaxBytes: [1024 * 1024, 1024 * 1024 * 1024],
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

// ---- Webhooks ----

/** Webhooks one tenant may have. */
export const MAX_WEBHOOKS = 5;
export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 256;
/** One delivery (connect, send, first bytes of the answer) is given up after this long. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** The most of a receiver's answer kept with a delivery, in characters. */
export const WEBHOOK_RESPONSE_EXCERPT_CHARS = 256;
/** Events in one POST: a delivery run sends what queued up since the run before. */
export const MAX_WEBHOOK_BATCH_EVENTS = 500;
export const MAX_WEBHOOK_BATCH_BYTES = 256 * 1024;
/**
 * Delivery runs of one object start at least this far apart: an idle object delivers a new event at once, a busy one
 * gathers a burst's events into a few POSTs instead of spending its thread on one POST per handful of connects.
 */
export const WEBHOOK_RUN_INTERVAL_MS = 100;
/** Consecutive POSTs per webhook in one delivery run; what is left waits for the next run. */
export const WEBHOOK_BATCHES_PER_RUN = 20;
/**
 * Waits before the 1st, 2nd, ... retry of a failed delivery (each +-20% jitter); the last repeats.
 * A receiver is retried for WEBHOOK_DISABLE_AFTER_MS before the webhook is disabled.
 */
export const WEBHOOK_RETRY_DELAYS_MS = [5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000];
export const WEBHOOK_DISABLE_AFTER_MS = 24 * 3_600_000;
/** Undelivered events one object keeps for one webhook; past it the webhook is disabled and its backlog dropped. */
export const MAX_WEBHOOK_BACKLOG_EVENTS = 50_000;
/** Delivery attempts one object remembers per webhook; `GET /v1/webhooks/{id}/deliveries` shows up to this many. */
export const WEBHOOK_DELIVERIES_KEPT = 50;
/** After a secret rotation the previous secret still signs (a second signature) this long by default, at most the max. */
export const DEFAULT_PREVIOUS_SECRET_TTL_SECONDS = 86_400;
export const MAX_PREVIOUS_SECRET_TTL_SECONDS = 7 * 86_400;
/** Text frames a client may send upstream (`clientMessages: "webhook"`), in UTF-8 bytes; larger ones close with 1009. */
export const MAX_CLIENT_MESSAGE_BYTES = 8192;
/** A socket's `user` (its token's `sub`) is reported up to this length, and as null beyond. */
export const MAX_USER_LENGTH = 256;

// ---- Presence ----

/** Tags in one `GET /v1/presence?tags=` call. */
export { MAX_PRESENCE_TAGS } from '../../sdk/src/protocol';

// ---- History and the mws.v2 protocol ----

/** What a tenant keeps when it sets nothing: the last 2 minutes, at most 10,000 messages per shard. */
export const DEFAULT_HISTORY_MAX_AGE_SECONDS = 120;
export const DEFAULT_HISTORY_MAX_MESSAGES = 10_000;
/**
 * Trims run in batches, so history holds up to this fraction more than asked (plus HISTORY_TRIM_SLACK_MIN messages)
 * and messages outlive their age by up to that fraction of it: one DELETE per batch, not one per push.
 */
export const HISTORY_TRIM_SLACK_FRACTION = 1 / 16;
export const HISTORY_TRIM_SLACK_MIN = 16;
/** History rows read per query while replaying. */
export const REPLAY_BATCH_ROWS = 256;
/** Bytes a mws.v2 socket may have been sent and not yet acknowledged; past it the socket is paused until it acks. */
export const V2_WINDOW_BYTES = 1024 * 1024;
/** A mws.v2 client may send this many frames (acks) per window besides `ping`; past it, 1008. */
export const V2_CLIENT_FRAMES_PER_WINDOW = 300;
/** Longest accepted `resume` query parameter. */
export const MAX_RESUME_PARAM_LENGTH = 512;

// ---- Idempotent publish ----

/** `Idempotency-Key` values: 1 to this many printable ASCII characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** How long a key is remembered, and how many keys a tenant's object keeps at most (the oldest go first). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000;
export const MAX_IDEMPOTENCY_KEYS = 100_000;
/** A push still in flight after this long is taken as abandoned (its object restarted): a retry may complete it. */
export const IDEMPOTENCY_IN_FLIGHT_MS = 60_000;
