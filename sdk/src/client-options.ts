import type { BackoffOptions } from './backoff.js';
import type { ResumeFailure } from './protocol.js';
import type { StreamMessage } from './stream.js';

/** MwsClient's options and events. */

export const DEFAULT_PING_INTERVAL_MS = 25_000;
export const DEFAULT_PONG_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A WebSocket class: the global one (browsers, Node 22+, Deno, Bun) or, on Node 20, the default export of the `ws`
 * package. Typed loosely so that `ws`'s class fits; the client uses only the standard `on*` handlers.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
};

/** Thrown (as a TypeError) by `new MwsClient()` where there is no global WebSocket and none is given. */
export const NO_WEBSOCKET_MESSAGE =
  "MwsClient: this runtime has no global WebSocket (Node 20 has none): pass one, e.g. `import WebSocket from 'ws'` and `new MwsClient({ WebSocket, ... })`.";

export interface MwsClientOptions {
  /**
   * A connect uri from `POST /v1/sockets` or `GET /v1/websocket_uri`. Connect uris are single-use:
   * once it has opened, the client cannot reconnect with it. Prefer `getUri` for long-lived clients.
   */
  uri?: string;
  /** Returns a fresh connect uri; called before every connection attempt (including the first). */
  getUri?: () => string | Promise<string>;
  /** How often to send `ping`, in ms. Default 25 000; keep it below the service's interval (50 s by default). */
  pingIntervalMs?: number;
  /** How long to wait for `pong` before treating the connection as dead and reconnecting, in ms. Default 10 000. */
  pongTimeoutMs?: number;
  /** How long an attempt may take to open before it counts as failed, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Exponential backoff with full jitter between reconnect attempts; `false` disables reconnecting. */
  reconnect?: (BackoffOptions & { maxAttempts?: number }) | false;
  /** The WebSocket class; defaults to the global `WebSocket`. Required on Node 20: pass `ws`'s default export. */
  WebSocket?: WebSocketConstructor;
  /** Source of randomness for jitter, in [0, 1); defaults to Math.random. */
  random?: () => number;
  /**
   * `mws.v2` (default): envelopes, resume on every reconnect, acks, no duplicates, and `recoveryFailed` when
   * messages could not be replayed. `raw`: the original protocol, each message's data as one frame.
   */
  protocol?: 'mws.v2' | 'raw';
}

export interface MwsClientEvents {
  /**
   * A connection is open. `attempt` is 0 for a first connection, else the reconnect attempt that succeeded.
   * `resumed` (mws.v2): true when what was missed is being replayed, false when it could not be (a `recoveryFailed`
   * follows), null when there was nothing to resume.
   */
  open: { attempt: number; resumed: boolean | null };
  /**
   * A pushed message, once: text as `data`; binary as `bytes` (and `data`, decoded as UTF-8). mws.v2 messages carry
   * the `id` the push answered and their `seq`.
   */
  message: StreamMessage;
  /**
   * mws.v2: messages were lost and cannot be replayed (history trimmed, tenant recreated, ...): reload your state.
   * Live messages continue.
   */
  recoveryFailed: { reason: ResumeFailure; message: string };
  /** A connection closed. `willReconnect` says whether a `reconnecting` follows. */
  close: { code: number; reason: string; willReconnect: boolean };
  /** A reconnect is scheduled after `delayMs`. */
  reconnecting: { attempt: number; delayMs: number };
  /** Getting a uri or opening a socket failed; the client retries unless it has stopped. */
  error: { error: unknown };
}

