import { utf8Length } from '../core/backlog';
import { isStale } from '../core/keepalive';
import {
  CLIENT_MESSAGE_WINDOW_MS,
  CLIENT_MESSAGES_PER_WINDOW,
  CLOSING_GRACE_MS,
  MAX_HELD_SOCKETS_PER_OBJECT,
  SOCKET_RECOUNT_MS,
} from '../core/limits';
import { countInWindow, type Window } from '../core/rate-limit';
import { hibernationTags, resolveReceivers, SOCKET_ID_PREFIX, socketIdTag, USER_TAG_PREFIX } from '../core/receivers';
import { socketCapRefusal } from '../core/socket-cap';
import type { Receivers } from '../core/validation';
import { Backlogs } from './backlogs';
import { CloseCode, closeQuietly } from './close-codes';

/**
 * Kept on each hibernatable socket and survives eviction: only when it connected (epoch ms). Its id and tags are
 * its hibernation tags already (`ctx.getTags`), so the attachment stays a few bytes (the platform allows 2 KiB).
 */
type SocketAttachment = number;

export interface SocketInfo {
  id: string;
  connectedAt: string;
  tags: string[];
}

/** A count that is exact at most SOCKET_RECOUNT_MS ago, plus what changed since; the exact count allocates every socket. */
interface Estimate {
  count: number;
  countedAt: number;
}

/** The hibernatable WebSockets of one object: accept, find, describe, send, close and sweep. */
export class Sockets {
  private readonly clientMessageWindows = new WeakMap<WebSocket, Window>();
  private readonly backlogs: Backlogs;
  /** Open sockets, what `maxSockets` caps. */
  private readonly open: Estimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };
  /** Open + closing sockets, what the platform caps. */
  private readonly held: Estimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly ctx: DurableObjectState,
    /** Names the tenant and shard in log lines. */
    private readonly where: () => string,
  ) {
    this.backlogs = new Backlogs(ctx, (ws, reason) => this.closeByServer(ws, CloseCode.SLOW_CLIENT, reason));
  }

  /** Why a new socket must be refused (`maxSockets` counts open ones; the platform counts closing ones too), or null. */
  capRefusal(maxSockets: number): string | null {
    const now = Date.now();
    const open = recount(this.open, now, () => this.openSockets().length);
    const held = recount(this.held, now, () => this.ctx.getWebSockets().length);
    return socketCapRefusal(open, held, maxSockets, MAX_HELD_SOCKETS_PER_OBJECT);
  }

  /** Accepts a socket for `id`, closing any older connection with that id (4003); returns the client end. */
  accept(id: string, tags: readonly string[]): WebSocket {
    for (const older of this.ctx.getWebSockets(socketIdTag(id))) {
      this.closeByServer(older, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, hibernationTags(id, tags));
    this.open.count++;
    this.held.count++;
    const connectedAt: SocketAttachment = Date.now();
    server.serializeAttachment(connectedAt);
    return client;
  }

  /** Sends `data` to the matching sockets that are within their backlog budget; returns how many it was written to. */
  deliver(receivers: Receivers, data: string): number {
    const bytes = utf8Length(data);
    const now = Date.now();
    let sent = 0;
    for (const ws of resolveReceivers(receivers, (tag) => this.ctx.getWebSockets(tag))) if (this.trySend(ws, data, bytes, now)) sent++;
    return sent;
  }

  /** Up to `limit` open sockets with ids after `after`, in id order. */
  list(after: string, limit: number): SocketInfo[] {
    return this.openSockets()
      .map((ws) => this.info(ws))
      .filter((s) => s.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
  }

  get(id: string): SocketInfo | null {
    const ws = this.openSockets(socketIdTag(id))[0];
    return ws === undefined ? null : this.info(ws);
  }

  /** Closes the open sockets with this id; returns how many. */
  close(id: string, code: number, reason: string): number {
    const sockets = this.openSockets(socketIdTag(id));
    for (const ws of sockets) this.closeByServer(ws, code, reason);
    return sockets.length;
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) this.closeByServer(ws, code, reason);
  }

  openCount(): number {
    return this.openSockets().length;
  }

  /**
   * Raw mode: the service only pushes; client messages other than the keepalive `ping` (answered by the runtime,
   * never seen here) are ignored, and a client that floods them is closed with 1008.
   */
  onClientMessage(ws: WebSocket): void {
    const counted = countInWindow(this.clientMessageWindows.get(ws), CLIENT_MESSAGES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, Date.now());
    this.clientMessageWindows.set(ws, counted.window);
    if (counted.exceeded) this.closeByServer(ws, CloseCode.POLICY_VIOLATION, 'policy violation: this socket only receives; send only "ping"');
  }

  /**
   * Answers the client's close frame so the closing handshake completes. 1005, 1006 and 1015 say there was no
   * close frame (or no connection) to answer, so nothing is sent back, as partyserver does.
   */
  onClientClose(ws: WebSocket, code: number): void {
    if (this.backlogs.markClosing(ws, Date.now(), true)) this.open.count--;
    if (code === 1005 || code === 1006 || code === 1015 || code < 1000) return;
    closeQuietly(ws, code, '');
  }

  onError(ws: WebSocket, error: unknown): void {
    console.warn(`websocket error (${this.where()})`, String(error));
    this.closeByServer(ws, CloseCode.SEND_FAILED, 'websocket error');
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
        this.closeByServer(ws, CloseCode.KEEPALIVE_TIMEOUT, 'keepalive timeout: no ping for two intervals');
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

  /** Every close the server starts: the socket leaves the open count at once, whether or not its client answers. */
  private closeByServer(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.OPEN && this.backlogs.markClosing(ws, Date.now(), false)) this.open.count--;
    closeQuietly(ws, code, reason);
  }

  private openSockets(tag?: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Sends without ever throwing out of the delivery loop; a socket whose send fails is closed and so leaves the list. */
  private trySend(ws: WebSocket, data: string, bytes: number, now: number): boolean {
    if (ws.readyState !== WebSocket.OPEN || !this.backlogs.admit(ws, bytes, now)) return false;
    try {
      ws.send(data);
      return true;
    } catch (err) {
      console.warn(`send failed; closing socket (${this.where()})`, String(err));
      this.closeByServer(ws, CloseCode.SEND_FAILED, 'send failed');
      return false;
    }
  }

  /** A socket as the API shows it: id and tags from its hibernation tags, connectedAt from its attachment. */
  private info(ws: WebSocket): SocketInfo {
    let id = '';
    const tags: string[] = [];
    for (const tag of this.ctx.getTags(ws)) {
      if (tag.startsWith(SOCKET_ID_PREFIX)) id = tag.slice(SOCKET_ID_PREFIX.length);
      else if (tag.startsWith(USER_TAG_PREFIX)) tags.push(tag.slice(USER_TAG_PREFIX.length));
    }
    return { id, connectedAt: new Date(ws.deserializeAttachment() as SocketAttachment).toISOString(), tags };
  }
}

function recount(estimate: Estimate, now: number, count: () => number): number {
  if (now - estimate.countedAt > SOCKET_RECOUNT_MS) {
    estimate.count = count();
    estimate.countedAt = now;
  }
  return estimate.count;
}
