import { utf8Length } from '../core/fields';
import {
  CLIENT_MESSAGE_WINDOW_MS,
  CLIENT_MESSAGES_PER_WINDOW,
  CLOSING_GRACE_MS,
  MAX_CLIENT_MESSAGE_BYTES,
  MAX_HELD_SOCKETS_PER_OBJECT,
  SOCKET_RECOUNT_MS,
} from '../core/limits';
import { isStale } from '../core/keepalive';
import { countInWindow, type Window } from '../core/rate-limit';
import { hibernationTags, resolveReceivers, socketIdTag } from '../core/receivers';
import { socketCapRefusal } from '../core/socket-cap';
import type { Receivers } from '../core/validation';
import type { ClosedBy } from '../core/webhook-events';
import type { SocketAttachment } from './attachment';
import type { SocketInfo } from '../../sdk/src/protocol';
import { SocketIndex, type SocketSnapshot } from './socket-index';
import { Backlogs } from './backlogs';
import { CloseCode, closeQuietly, fitCloseReason } from '../core/close-codes';

/** Sends a message to a mws.v2 socket and says whether it counts as sent; undefined for a raw socket. */
export type V2Sender = (ws: WebSocket) => boolean | undefined;

export type { SocketInfo };
export type { SocketSnapshot };

export interface AcceptOptions {
  /** The socket speaks mws.v2 (its attachment says so, so it is known after eviction). */
  v2?: boolean;
  /** Sees each older connection with the same id just before it is closed (4003). */
  onReplaced?: (older: WebSocket) => void;
}

/** Who hears about sockets coming, going and talking (the webhook events); see SocketEvents. */
export interface SocketListener {
  /** False when no webhook listens: sockets then skip building snapshots. */
  readonly listening: boolean;
  /** Whether client text frames are forwarded (`clientMessages: "webhook"`). */
  readonly forwardsMessages: boolean;
  connected(socket: SocketSnapshot, replaced: SocketSnapshot[]): void;
  gone(socket: SocketSnapshot, code: number, reason: string, closedBy: ClosedBy): void;
  message(socket: SocketSnapshot, data: string): void;
}

/** A count that is exact at most SOCKET_RECOUNT_MS ago, plus what changed since; the exact count allocates every socket. */
interface Estimate {
  count: number;
  countedAt: number;
}

/** The hibernatable WebSockets of one object: accept, send, close and sweep; find and describe (SocketIndex). */
export class Sockets extends SocketIndex {
  private readonly clientMessageWindows = new WeakMap<WebSocket, Window>();
  private readonly backlogs: Backlogs;
  /** Open sockets, what `maxSockets` caps. */
  private readonly openEstimate: Estimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };
  /** Open + closing sockets, what the platform caps. */
  private readonly heldEstimate: Estimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };

  constructor(
    ctx: DurableObjectState,
    /** Names the tenant and shard in log lines. */
    private readonly where: () => string,
    private readonly listener: SocketListener,
  ) {
    super(ctx);
    this.backlogs = new Backlogs(ctx, (ws, reason) => this.closeBy(ws, CloseCode.SLOW_CLIENT, reason, 'limit'));
  }

  /** Why a new socket must be refused (`maxSockets` counts open ones; the platform counts closing ones too), or null. */
  capRefusal(maxSockets: number): string | null {
    const now = Date.now();
    const open = recount(this.openEstimate, now, () => this.open().length);
    const held = recount(this.heldEstimate, now, () => this.ctx.getWebSockets().length);
    return socketCapRefusal(open, held, maxSockets, MAX_HELD_SOCKETS_PER_OBJECT);
  }

  /**
   * Accepts a socket for `id`, closing any older connection with that id (4003, after `onReplaced` saw it); returns
   * both ends, or null (logged) when the platform refuses it, so an upgrade never ends in a 500.
   */
  accept(id: string, tags: readonly string[], user: string | null, options: AcceptOptions = {}): { client: WebSocket; server: WebSocket } | null {
    const older = this.open(socketIdTag(id));
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    try {
      this.ctx.acceptWebSocket(server, hibernationTags(id, tags));
    } catch (err) {
      console.error(`could not accept a socket (${this.where()})`, String(err));
      return null;
    }
    this.openEstimate.count++;
    this.heldEstimate.count++;
    const connectedAt = Date.now();
    const attachment: SocketAttachment = user === null && options.v2 !== true ? connectedAt : { at: connectedAt, ...(user === null ? {} : { user }), ...(options.v2 ? { v2: true } : {}) };
    server.serializeAttachment(attachment);
    if (this.listener.listening) {
      this.listener.connected({ ws: server, id, tags: [...tags], user, connectedAt }, older.map((ws) => this.snapshot(ws)));
    }
    for (const ws of older) {
      options.onReplaced?.(ws);
      this.closeBy(ws, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id', 'replaced', false);
    }
    return { client, server };
  }

  /**
   * Sends to the matching sockets: raw ones get `data` as one frame, mws.v2 ones go through `sendV2` (null when
   * this object has none). Returns how many sockets it counts as sent.
   */
  deliver(receivers: Receivers, data: string | Uint8Array, sendV2: V2Sender | null): number {
    const bytes = typeof data === 'string' ? utf8Length(data) : data.byteLength;
    const now = Date.now();
    let sent = 0;
    for (const ws of resolveReceivers(receivers, (tag) => this.ctx.getWebSockets(tag))) {
      const v2 = sendV2?.(ws);
      if (v2 === undefined ? this.trySend(ws, data, bytes, now) : v2) sent++;
    }
    return sent;
  }

  /** Closes the open sockets with this id, reporting who closed them; returns how many. */
  close(id: string, code: number, reason: string, closedBy: ClosedBy): number {
    const sockets = this.open(socketIdTag(id));
    for (const ws of sockets) this.closeBy(ws, code, reason, closedBy);
    return sockets.length;
  }

  /** Closes every socket without reporting their departures (the tenant is being deleted). */
  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, code, reason);
  }

  /**
   * Client messages other than the keepalive `ping` (answered by the runtime, never seen here): in raw mode they
   * are ignored; with `clientMessages: "webhook"` text frames go upstream, and frames over MAX_CLIENT_MESSAGE_BYTES
   * close the socket with 1009. Either way a client that floods is closed with 1008.
   */
  onClientMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const counted = countInWindow(this.clientMessageWindows.get(ws), CLIENT_MESSAGES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, Date.now());
    this.clientMessageWindows.set(ws, counted.window);
    const forwards = this.listener.forwardsMessages;
    if (counted.exceeded) {
      const reason = forwards
        ? `policy violation: more than ${CLIENT_MESSAGES_PER_WINDOW} messages in ${CLIENT_MESSAGE_WINDOW_MS / 1000} s`
        : 'policy violation: this socket only receives; send only "ping"';
      this.closeBy(ws, CloseCode.POLICY_VIOLATION, reason, 'limit');
      return;
    }
    if (!forwards || typeof message !== 'string') return;
    if (utf8LengthOver(message, MAX_CLIENT_MESSAGE_BYTES)) {
      this.closeBy(ws, CloseCode.MESSAGE_TOO_BIG, `message too big: at most ${MAX_CLIENT_MESSAGE_BYTES} bytes`, 'limit');
      return;
    }
    this.listener.message(this.snapshot(ws), message);
  }

  /**
   * Reports a departure the client started (unless the service closed the socket and reported it then), and answers
   * the close frame so the handshake completes. 1005, 1006 and 1015 say there was no close frame (or no connection)
   * to answer, so nothing is sent back, as partyserver does.
   */
  onClientClose(ws: WebSocket, code: number, reason: string): void {
    if (this.backlogs.markClosing(ws, Date.now(), true)) this.openEstimate.count--;
    if (this.listener.listening) {
      const socket = this.snapshot(ws);
      if (socket.closedBy === undefined) this.listener.gone(socket, code, reason, 'client');
    }
    if (code === 1005 || code === 1006 || code === 1015 || code < 1000) return;
    closeQuietly(ws, code, '');
  }

  onError(ws: WebSocket, error: unknown): void {
    console.warn(`websocket error (${this.where()})`, String(error));
    this.closeBy(ws, CloseCode.SEND_FAILED, 'websocket error', 'error');
  }

  /**
   * Closes sockets that stopped pinging (4002), recounts the backlog budget, and reports sockets whose close the
   * client never answered. Returns how many sockets are open and how many still closing.
   */
  sweep(now: number, keepaliveIntervalMs: number): { open: number; closing: number } {
    let open = 0;
    let closing = 0;
    let overdue = 0;
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) {
        closing++;
        if (now - this.backlogs.closingSince(ws, now) > CLOSING_GRACE_MS) overdue++;
      } else if (isStale(this.ctx.getWebSocketAutoResponseTimestamp(ws), now, keepaliveIntervalMs)) {
        this.closeBy(ws, CloseCode.KEEPALIVE_TIMEOUT, 'keepalive timeout: no ping for two intervals', 'keepalive');
        closing++;
      } else {
        open++;
      }
    }
    this.backlogs.rebalance(now);
    if (overdue > 0) {
      // A second close() is a no-op and nothing else ends a hibernatable socket: the runtime keeps it until the
      // client answers or the connection drops. https://github.com/cloudflare/workerd/blob/main/src/workerd/api/web-socket.c%2B%2B
      console.warn(`${overdue} sockets closed over ${CLOSING_GRACE_MS / 1000} s ago are still waiting for their client (${this.where()})`);
    }
    return { open, closing };
  }

  /**
   * Sends without ever throwing out of the delivery loop; a socket whose send fails is closed and so leaves the list.
   * Sockets known to be closing are skipped by their backlog tally; `readyState` is read only when a send throws,
   * as it costs about a tenth of tag-push throughput (measured on workerd 1.20261102.1).
   */
  private trySend(ws: WebSocket, data: string | Uint8Array, bytes: number, now: number): boolean {
    if (!this.backlogs.admit(ws, bytes, now)) return false;
    try {
      ws.send(data);
      return true;
    } catch (err) {
      if (ws.readyState !== WebSocket.OPEN) {
        this.backlogs.refused(ws, bytes, now);
        return false;
      }
      console.warn(`send failed; closing socket (${this.where()})`, String(err));
      this.closeBy(ws, CloseCode.SEND_FAILED, 'send failed', 'error');
      return false;
    }
  }

  /**
   * Closes a socket on the service's initiative. When webhooks listen, its departure is reported now (the client may
   * never answer the close) and marked on the socket, so the close handler that follows does not report it again.
   */
  private closeBy(ws: WebSocket, code: number, reason: string, closedBy: ClosedBy, report = true): void {
    if (ws.readyState === WebSocket.OPEN && this.backlogs.markClosing(ws, Date.now(), false)) this.openEstimate.count--;
    if (this.listener.listening) {
      const socket = this.snapshot(ws);
      if (socket.closedBy === undefined) {
        try {
          const before = ws.deserializeAttachment() as SocketAttachment;
          ws.serializeAttachment({ ...(typeof before === 'number' ? {} : before), at: socket.connectedAt, ...(socket.user === null ? {} : { user: socket.user }), closedBy } satisfies SocketAttachment);
        } catch {
          // Already closed: the close handler ran, and reported it.
        }
        if (report) this.listener.gone(socket, code, fitCloseReason(reason), closedBy);
      }
    }
    closeQuietly(ws, code, reason);
  }
}

/** Whether a string is longer than `max` bytes in UTF-8, encoding it only when its length leaves a doubt. */
function utf8LengthOver(text: string, max: number): boolean {
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return utf8Length(text) > max;
}

function recount(estimate: Estimate, now: number, count: () => number): number {
  if (now - estimate.countedAt > SOCKET_RECOUNT_MS) {
    estimate.count = count();
    estimate.countedAt = now;
  }
  return estimate.count;
}
