import { backoffDelay } from './backoff.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PONG_TIMEOUT_MS,
  NO_WEBSOCKET_MESSAGE,
  type MwsClientEvents,
  type MwsClientOptions,
  type WebSocketConstructor,
} from './client-options.js';
import { ClientCloseCode, isFinalCloseCode } from './close-codes.js';
import { Emitter } from './emitter.js';
import { KEEPALIVE_PING, KEEPALIVE_PING_EVERY_BYTES, KEEPALIVE_PONG, V2_PROTOCOL } from './protocol.js';
import { V2Stream, type StreamEvent } from './stream.js';

export * from './client-options.js';

export type MwsClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

const WS_OPEN = 1;

/**
 * A reconnecting MWS WebSocket client with keepalive. By default it speaks mws.v2: on every reconnect it resumes
 * where it was (the service replays what it missed), acknowledges what it processed, never emits a message twice,
 * and emits `recoveryFailed` when messages could not be replayed.
 *
 * ```ts
 * const client = new MwsClient({ getUri: async () => (await fetch('/my-backend/mws-uri')).json().then((r) => r.uri) });
 * client.on('message', ({ data }) => console.log(data));
 * client.connect();
 * ```
 */
export class MwsClient extends Emitter<MwsClientEvents> {
  private readonly options: MwsClientOptions;
  private readonly WebSocketImpl: new (url: string, protocols?: string[]) => WebSocket;
  private readonly stream: V2Stream;
  private ws: WebSocket | null = null;
  private currentState: MwsClientState = 'idle';
  /** Consecutive failed attempts since the last successful open. */
  private attempt = 0;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  /** Pings sent on the current connection whose pong has not come back (pongs come back in order). */
  private pingsAwaiting = 0;
  /** Bytes received in raw mode since the last ping. */
  private receivedSincePing = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by close() and by each new attempt, so late callbacks of an old attempt do nothing. */
  private generation = 0;
  /** The attempt that opened the current mws.v2 connection, reported with its hello. */
  private openedAttempt = 0;

  constructor(options: MwsClientOptions) {
    super();
    if ((options.uri === undefined) === (options.getUri === undefined)) {
      throw new TypeError('MwsClient needs exactly one of `uri` or `getUri`.');
    }
    this.options = options;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (impl === undefined) throw new TypeError(NO_WEBSOCKET_MESSAGE);
    // Any class with the standard `on*` handlers works; the type above is loose only so that `ws` fits.
    this.WebSocketImpl = impl as unknown as new (url: string, protocols?: string[]) => WebSocket;
    this.stream = new V2Stream();
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
      const resume = this.options.protocol === 'raw' ? null : this.stream.resumeParam();
      const url = resume === null ? uri : `${uri}${uri.includes('?') ? '&' : '?'}resume=${encodeURIComponent(resume)}`;
      ws = this.options.protocol === 'raw' ? new this.WebSocketImpl(url) : new this.WebSocketImpl(url, [V2_PROTOCOL]);
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
    // A mws.v2 connection is announced by its hello, which says whether it resumed.
    if (ws.protocol === V2_PROTOCOL) this.openedAttempt = attempt;
    else this.emit('open', { attempt, resumed: null });
  }

  private handleMessage(ws: WebSocket, raw: unknown): void {
    if (ws !== this.ws) return;
    // Only a `pong` we are waiting for is the keepalive answer; any other `pong` is a pushed message.
    if (raw === KEEPALIVE_PONG && this.pingsAwaiting > 0) {
      this.pingsAwaiting--;
      clearTimeout(this.pongTimer);
      this.pongTimer = undefined;
      return;
    }
    if (ws.protocol !== V2_PROTOCOL) {
      this.showReading(ws, typeof raw === 'string' ? raw.length : (raw as ArrayBuffer).byteLength);
      if (typeof raw === 'string') return this.emit('message', { data: raw });
      const bytes = new Uint8Array(raw as ArrayBuffer);
      return this.emit('message', { data: new TextDecoder().decode(bytes), bytes });
    }
    const sendAck = (frame: string) => {
      if (ws === this.ws && ws.readyState === WS_OPEN) ws.send(frame);
    };
    this.dispatch(typeof raw === 'string' ? this.stream.onText(raw, sendAck) : this.stream.onBinary(new Uint8Array(raw as ArrayBuffer), sendAck));
  }

  /** Raw mode: a ping after every KEEPALIVE_PING_EVERY_BYTES received shows the service this client keeps up. */
  private showReading(ws: WebSocket, bytes: number): void {
    this.receivedSincePing += bytes;
    if (this.receivedSincePing < KEEPALIVE_PING_EVERY_BYTES || ws.readyState !== WS_OPEN) return;
    this.receivedSincePing = 0;
    this.sendPing(ws);
  }

  private sendPing(ws: WebSocket): void {
    ws.send(KEEPALIVE_PING);
    this.pingsAwaiting++;
  }

  private dispatch(event: StreamEvent): void {
    if (event.kind === 'message') this.emit('message', event.message);
    else if (event.kind === 'recoveryFailed') this.emit('recoveryFailed', { reason: event.reason, message: event.message });
    else if (event.kind === 'hello') this.emit('open', { attempt: this.openedAttempt, resumed: event.resumed });
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
    this.pingsAwaiting = 0;
    this.receivedSincePing = 0;
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WS_OPEN) return;
      this.sendPing(ws);
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
