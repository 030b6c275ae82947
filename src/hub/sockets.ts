import { CLIENT_MESSAGE_WINDOW_MS, CLIENT_MESSAGES_PER_WINDOW, SOCKET_RECOUNT_MS } from '../core/limits';
import { isStale } from '../core/keepalive';
import { countInWindow, type Window } from '../core/rate-limit';
import { hibernationTags, resolveReceivers, SOCKET_ID_PREFIX, socketIdTag, USER_TAG_PREFIX } from '../core/receivers';
import type { Receivers } from '../core/validation';
import type { SocketInfo } from '../../sdk/src/protocol';
import { CloseCode, closeQuietly } from './close-codes';

/**
 * Kept on each hibernatable socket and survives eviction: only when it connected (epoch ms). Its id and tags are
 * its hibernation tags already (`ctx.getTags`), so the attachment stays a few bytes (the platform allows 2 KiB).
 */
type SocketAttachment = number;

export type { SocketInfo };

/** The hibernatable WebSockets of one object: accept, find, describe, send, close and sweep. */
export class Sockets {
  private readonly clientMessageWindows = new WeakMap<WebSocket, Window>();
  /** Open + closing sockets, recounted at most every SOCKET_RECOUNT_MS; the exact count allocates every socket. */
  private estimate = { count: 0, countedAt: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly ctx: DurableObjectState,
    /** Names the tenant and shard in log lines. */
    private readonly where: () => string,
  ) {}

  /**
   * Accepts a socket for `id`, closing any older connection with that id (4003); returns the client end, or null
   * (logged) when the platform refuses it, so an upgrade never ends in a 500.
   */
  accept(id: string, tags: readonly string[]): WebSocket | null {
    const older = this.ctx.getWebSockets(socketIdTag(id));
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    try {
      this.ctx.acceptWebSocket(server, hibernationTags(id, tags));
    } catch (err) {
      console.error(`could not accept a socket (${this.where()})`, String(err));
      return null;
    }
    for (const ws of older) closeQuietly(ws, CloseCode.REPLACED, 'replaced by a newer connection with the same socket id');
    this.estimate.count++;
    const connectedAt: SocketAttachment = Date.now();
    server.serializeAttachment(connectedAt);
    return client;
  }

  /** Sends `data` to the matching sockets; returns how many it was written to. */
  deliver(receivers: Receivers, data: string): number {
    let sent = 0;
    for (const ws of resolveReceivers(receivers, (tag) => this.ctx.getWebSockets(tag))) if (this.trySend(ws, data)) sent++;
    return sent;
  }

  /** Up to `limit` open sockets with ids after `after`, in id order. */
  list(after: string, limit: number): SocketInfo[] {
    return this.open()
      .map((ws) => this.info(ws))
      .filter((s) => s.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
  }

  get(id: string): SocketInfo | null {
    const ws = this.open(socketIdTag(id))[0];
    return ws === undefined ? null : this.info(ws);
  }

  /** Closes the open sockets with this id; returns how many. */
  close(id: string, code: number, reason: string): number {
    const sockets = this.open(socketIdTag(id));
    for (const ws of sockets) closeQuietly(ws, code, reason);
    return sockets.length;
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) closeQuietly(ws, code, reason);
  }

  openCount(): number {
    return this.open().length;
  }

  /** The ids of the open sockets. */
  openIds(): string[] {
    return this.open().map((ws) => this.info(ws).id);
  }

  /**
   * Sockets held by this object, closing ones included (the platform counts them too). Exact at most a second ago,
   * plus those accepted since: close enough for a cap that stays 768 below the platform's.
   */
  heldCount(): number {
    const now = Date.now();
    if (now - this.estimate.countedAt > SOCKET_RECOUNT_MS) this.estimate = { count: this.ctx.getWebSockets().length, countedAt: now };
    return this.estimate.count;
  }

  /**
   * Raw mode: the service only pushes; client messages other than the keepalive `ping` (answered by the runtime,
   * never seen here) are ignored, and a client that floods them is closed with 1008.
   */
  onClientMessage(ws: WebSocket): void {
    const counted = countInWindow(this.clientMessageWindows.get(ws), CLIENT_MESSAGES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, Date.now());
    this.clientMessageWindows.set(ws, counted.window);
    if (counted.exceeded) closeQuietly(ws, CloseCode.POLICY_VIOLATION, 'policy violation: this socket only receives; send only "ping"');
  }

  /**
   * Answers the client's close frame so the closing handshake completes. 1005, 1006 and 1015 say there was no
   * close frame (or no connection) to answer, so nothing is sent back, as partyserver does.
   */
  onClientClose(ws: WebSocket, code: number): void {
    if (code === 1005 || code === 1006 || code === 1015 || code < 1000) return;
    closeQuietly(ws, code, '');
  }

  onError(ws: WebSocket, error: unknown): void {
    console.warn(`websocket error (${this.where()})`, String(error));
    closeQuietly(ws, CloseCode.SEND_FAILED, 'websocket error');
  }

  /** Closes sockets that stopped pinging (4002); returns how many stay open. */
  sweep(now: number, keepaliveIntervalMs: number): number {
    let open = 0;
    for (const ws of this.open()) {
      if (isStale(this.ctx.getWebSocketAutoResponseTimestamp(ws), now, keepaliveIntervalMs)) {
        closeQuietly(ws, CloseCode.KEEPALIVE_TIMEOUT, 'keepalive timeout: no ping for two intervals');
      } else {
        open++;
      }
    }
    return open;
  }

  private open(tag?: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Sends without ever throwing out of the delivery loop; a socket whose send fails is closed and so leaves the list. */
  private trySend(ws: WebSocket, data: string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(data);
      return true;
    } catch (err) {
      console.warn(`send failed; closing socket (${this.where()})`, String(err));
      closeQuietly(ws, CloseCode.SEND_FAILED, 'send failed');
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
