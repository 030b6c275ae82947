/** Every documented limit of the service, in one place. The README's "Limits" table lists the same numbers. */

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Socket ids and tags: length in characters. The platform allows 256 per hibernation tag; ours carry a 4-char prefix. */
export const MAX_ID_LENGTH = 128;
export const MAX_TAG_LENGTH = 128;

/**
 * The platform allows 10 tags per hibernatable WebSocket, and the socket id takes one.
 * https://developers.cloudflare.com/durable-objects/api/state/#acceptwebsocket
 */
export const MAX_TAGS_PER_SOCKET = 9;

/** Receivers of one message. */
export const MAX_RECEIVER_SOCKETS = 1000;
export const MAX_RECEIVER_TAGS = 100;

/** WebSocket close reasons must fit in 123 UTF-8 bytes, or `close()` throws. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * The platform refuses the 32,769th hibernatable WebSocket of one object, closing ones included;
 * we stop below it so the refusal is ours, with a clear reason.
 * https://developers.cloudflare.com/durable-objects/platform/limits/
 */
export const MAX_SOCKETS_PER_TENANT = 32_000;

/** A push-only socket that sends more than this many non-`ping` messages in the window is closed with 1008. */
export const CLIENT_MESSAGES_PER_WINDOW = 20;
export const CLIENT_MESSAGE_WINDOW_MS = 10_000;
