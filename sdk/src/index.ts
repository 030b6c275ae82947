export { MwsClient, DEFAULT_PING_INTERVAL_MS, DEFAULT_PONG_TIMEOUT_MS } from './client.js';
export type { MwsClientEvents, MwsClientOptions, MwsClientState, WebSocketConstructor } from './client.js';
export { MwsBackend, MwsError } from './server.js';
export type { FetchLike, MwsBackendOptions } from './server.js';
export { CloseCode, ClientCloseCode, isFinalCloseCode } from './close-codes.js';
export { backoffDelay, DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type * from './types.js';
