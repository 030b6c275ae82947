export { MwsClient, DEFAULT_PING_INTERVAL_MS, DEFAULT_PONG_TIMEOUT_MS, NO_WEBSOCKET_MESSAGE } from './client.js';
export type { MwsClientEvents, MwsClientOptions, MwsClientState, WebSocketConstructor } from './client.js';
export { MwsBackend, MwsError, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_DELAY_MS } from './server.js';
export type { FetchLike, MwsBackendOptions, RetryOptions } from './server.js';
export { CloseCode, ClientCloseCode, isFinalCloseCode } from './close-codes.js';
export { ACCESS_CONTROL_MODES, KEEPALIVE_PING, KEEPALIVE_PONG, MAX_SOCKET_PAGE_SIZE } from './protocol.js';
export { backoffDelay, DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type * from './types.js';
