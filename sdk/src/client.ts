import { backoffDelay, type BackoffOptions } from './backoff.js';
import { ClientCloseCode, isFinalCloseCode } from './close-codes.js';
import { Emitter } from './emitter.js';
import { KEEPALIVE_PING, KEEPALIVE_PONG } from './protocol.js';

export const DEFAULT_PING_INTERVAL_MS = 25_000;
export const DEFAULT_PONG_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A WebSocket class: the global one (browsers, Node 22+, Deno, Bun) or, on Node 20, the default export of the `ws`
 * package. Typed loosely so that `ws`'s class fits; the client uses only the standard `on*` handlers.
 */
export type WebSocketConstructor = new (url: string) => {
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
}

export interface MwsClientEvents {
  /** A connection is open. `attempt` is 0 for a first connection, else the reconnect attempt that succeeded. */
  open: { attempt: number };
  /** A pushed message. Text frames arrive as strings, binary ones are decoded as UTF-8. */
  message: { data: string };
  /** A connection closed. `willReconnect` says whether a `reconnecting` follows. */
  close: { code: number; reason: string; willReconnect: boolean };
  /** A reconnect is scheduled after `delayMs`. */
  reconnecting: { attempt: number; delayMs: number };
  /** Getting a uri or opening a socket failed; the client retries unless it has stopped. */
  error: { error: unknown };
}

export type MwsClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

const WS_OPEN = 1;

/**
 * A reconnecting MWS WebSocket client with keepalive.
 *
 * ```ts
 * const client = new MwsClient({ getUri: async () => (await fetch('/my-backend/mws-uri')).json().then((r) => r.uri) });
 * client.on('message', ({ data }) => console.log(data));
 * client.connect();
 * ```
 */
export class MwsClient extends Emitter<MwsClientEvents> {
  private readonly options: MwsClientOptions;
  private readonly WebSocketImpl: new (url: string) => WebSocket;
  private ws: WebSocket | null = null;
  private currentState: MwsClientState = 'idle';
  /** Consecutive failed attempts since the last successful open. */
  private attempt = 0;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by close() and by each new attempt, so late callbacks of an old attempt do nothing. */
  private generation = 0;

  constructor(options: MwsClientOptions) {
    super();
    if ((options.uri === undefined) === (options.getUri === undefined)) {
      throw new TypeError('MwsClient needs exactly one of `uri` or `getUri`.');
    }
    this.options = options;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (impl === undefined) throw new TypeError(NO_WEBSOCKET_MESSAGE);
    // Any class with the standard `on*` handlers works; the type above is loose only so that `ws` fits.
    this.WebSocketImpl = impl as unknown as new (url: string) => WebSocket;
  }

  get state(): MwsClientState {
    return this.currentState;
  }

  /** Starts connecting (and reconnecting as configured). Calling it again while running does nothing. */
  connect(): void {
    if (this.currentState !== 'idle') return;
    void this.attemptConnection();
  }

  /** Closes the socket for good: no reconnect, no more timers. Emits `close` with 1000 if a socket was open or opening. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.generation++;
    this.stopTimers();
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    this.currentState = 'closed';
    if (ws !== null) {
      detach(ws);
      safeClose(ws, ClientCloseCode.NORMAL, 'closed by client');
      this.emit('close', { code: ClientCloseCode.NORMAL, reason: 'closed by client', willReconnect: false });
    }
  }

  /** Sends a text frame on the open socket (the service ignores everything but `ping`). Returns false when not open. */
  send(data: string): boolean {
    if (this.ws === null || this.ws.readyState !== WS_OPEN) return false;
    this.ws.send(data);
    return true;
  }

  private async attemptConnection(): Promise<void> {
    const generation = ++this.generation;
    this.currentState = 'connecting';
    let uri: string;
    try {
      uri = await this.nextUri();
    } catch (error) {
      if (generation !== this.generation) return;
      this.emit('error', { error });
      this.scheduleReconnect();
      return;
    }
    if (generation !== this.generation) return;
    let ws: WebSocket;
    try {
      ws = new this.WebSocketImpl(uri);
    } catch (error) {
      this.emit('error', { error });
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.handleOpen(ws);
    ws.onmessage = (event) => this.handleMessage(ws, event.data);
    ws.onclose = (event) => this.handleClose(ws, event.code, event.reason);
    ws.onerror = () => {
      // Once open, a close event follows an error. Before that, some implementations (Node's undici on a
      // refused upgrade) report only the error, so a failed attempt is ended here.
      if (ws === this.ws && this.currentState === 'connecting') this.abandon(ws, 1006, 'connection failed');
    };
    const timeout = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => {
      if (ws === this.ws && this.currentState === 'connecting') this.abandon(ws, 1006, 'connect timeout');
    }, timeout);
  }

  /** Drops a socket without waiting for its close handshake and decides about reconnecting as if it had closed. */
  private abandon(ws: WebSocket, code: number, reason: string): void {
    detach(ws); // closing may fire `error` synchronously; it must not re-enter
    safeClose(ws, code === 1006 ? undefined : code, reason);
    this.handleClose(ws, code, reason);
  }

  private async nextUri(): Promise<string> {
    if (this.options.getUri !== undefined) return this.options.getUri();
    return this.options.uri as string;
  }

  private handleOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    clearTimeout(this.connectTimer);
    const attempt = this.attempt;
    this.attempt = 0;
    this.currentState = 'open';
    this.startKeepalive(ws);
    this.emit('open', { attempt });
  }

  private handleMessage(ws: WebSocket, raw: unknown): void {
    if (ws !== this.ws) return;
    const data = typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer);
    // Only a `pong` we are waiting for is the keepalive answer; any other `pong` is a pushed message.
    if (data === KEEPALIVE_PONG && this.pongTimer !== undefined) {
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
      return;
    }
    this.emit('message', { data });
  }

  private handleClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    const wasOpen = this.currentState === 'open';
    detach(ws);
    this.ws = null;
    this.stopTimers();
    const willReconnect = this.shouldReconnect(code, wasOpen);
    this.emit('close', { code, reason, willReconnect });
    if (willReconnect) this.scheduleReconnect();
    else this.finish();
  }

  private shouldReconnect(code: number, wasOpen: boolean): boolean {
    if (this.currentState === 'closed' || this.options.reconnect === false) return false;
    if (isFinalCloseCode(code, this.options.getUri !== undefined)) return false;
    // A static uri is spent once a connection opened with it.
    if (this.options.getUri === undefined && wasOpen) return false;
    return true;
  }

  private scheduleReconnect(): void {
    if (this.currentState === 'closed') return;
    const reconnect = this.options.reconnect;
    if (reconnect === false) return this.finish();
    this.attempt++;
    if (reconnect?.maxAttempts !== undefined && this.attempt > reconnect.maxAttempts) return this.finish();
    const delayMs = backoffDelay(this.attempt, reconnect ?? {}, this.options.random);
    this.currentState = 'waiting';
    const generation = this.generation;
    this.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation && this.currentState === 'waiting') void this.attemptConnection();
    }, delayMs);
  }

  private finish(): void {
    this.currentState = 'closed';
    this.stopTimers();
  }

  private startKeepalive(ws: WebSocket): void {
    const interval = this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    const timeout = this.options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS;
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WS_OPEN) return;
      ws.send(KEEPALIVE_PING);
      if (this.pongTimer !== undefined) return; // still waiting for the previous pong
      this.pongTimer = setTimeout(() => this.handlePongTimeout(ws), timeout);
    }, interval);
  }

  /** No pong in time: the connection is dead or half-open. Drop it and reconnect without waiting for a close handshake. */
  private handlePongTimeout(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.pongTimer = undefined;
    this.abandon(ws, ClientCloseCode.PONG_TIMEOUT, 'pong timeout');
  }

  private stopTimers(): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }
}

function detach(ws: WebSocket): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}

function safeClose(ws: WebSocket, code: number | undefined, reason: string): void {
  try {
    if (code === undefined) ws.close();
    else ws.close(code, reason);
  } catch {
    // Already closing or closed.
  }
}

export { CloseCode, ClientCloseCode, isFinalCloseCode } from './close-codes.js';
