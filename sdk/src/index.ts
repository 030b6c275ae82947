export { MwsClient, DEFAULT_PING_INTERVAL_MS, DEFAULT_PONG_TIMEOUT_MS, NO_WEBSOCKET_MESSAGE } from './client.js';
export type { MwsClientEvents, MwsClientOptions, MwsClientState, WebSocketConstructor } from './client.js';
export { MwsBackend, MwsError, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_DELAY_MS, DEFAULT_TIMEOUT_MS } from './server.js';
export type { FetchLike, MwsBackendOptions, PushOptions, RetryOptions } from './server.js';
export { ACK_EVERY_WINDOW_FRACTION } from './stream.js';
export type { StreamMessage } from './stream.js';
export { CloseCode, ClientCloseCode, isFinalCloseCode } from './close-codes.js';
export { verifyWebhook, WebhookVerificationError, DEFAULT_WEBHOOK_TOLERANCE_SECONDS } from './webhooks.js';
export type { HeadersLike, VerifiedWebhook, VerifyWebhookOptions } from './webhooks.js';
export {
  ACCESS_CONTROL_MODES,
  CLIENT_MESSAGES_MODES,
  HISTORY_MODES,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  KEEPALIVE_PING,
  KEEPALIVE_PONG,
  MAX_PRESENCE_TAGS,
  MAX_SOCKET_PAGE_SIZE,
  V2_PROTOCOL,
  WEBHOOK_EVENT_TYPES,
  decodeBinaryMessage,
  encodeBinaryMessage,
  resumeParam,
} from './protocol.js';
export { backoffDelay, DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type * from './types.js';
