import { backlogAfter, sheddingOrder } from '../core/backlog';
import { ASSUMED_DRAIN_BYTES_PER_SECOND, OBJECT_BACKLOG_BYTES, RECENT_PING_MS, SHED_FLOOR_BYTES, SOCKET_BACKLOG_BYTES } from '../core/limits';

const DRAIN_PER_MS = ASSUMED_DRAIN_BYTES_PER_SECOND / 1000;
const MiB = 1024 * 1024;

/** What the object knows of one socket's backlog. In memory only: after hibernation a socket starts from zero. */
interface Tally {
  /** The estimated backlog: bytes sent that the client has not shown it read, drained at the assumed rate. */
  bytes: number;
  /** When `bytes` was last drained (epoch ms). */
  at: number;
  /** Bytes sent since the last ping that cleared the backlog, not drained: what a closing socket may still hold. */
  unconfirmed: number;
  /** The ping timestamp that last cleared the backlog (epoch ms; 0: none). */
  pingAt: number;
  /** When the socket started closing (epoch ms; 0: it is open). */
  closedAt: number;
}

/**
 * Each socket's tally lives on the socket object itself, under a symbol: a WeakMap keyed by the runtime's WebSocket
 * objects cost about 15% of tag-push throughput (measured on workerd 1.20261102.1), a property lookup next to nothing.
 * Both live exactly as long as the socket's JavaScript object.
 */
const TALLY = Symbol('backlog tally');
type Tallied = WebSocket & { [TALLY]?: Tally };

/**
 * The backlog budget of one object's sockets (rules in core/backlog.ts): each socket's estimated backlog, their
 * total, and closing (4008, through `closeSlow`) the sockets that take more than their share. A socket that is
 * closing counts with everything sent since its last ping until it is gone: the runtime keeps its unsent frames
 * until the client reads them or the connection ends, and closing it frees none of them. The send path costs a
 * map lookup and a few additions; reading ping timestamps and walking all sockets happen only over budget.
 */
export class Backlogs {
  /** The tallies' sum as of their last update (never below what `rebalance` would count): when over budget, it recounts. */
  private total = 0;
  private rebalanceAbove = OBJECT_BACKLOG_BYTES;
  /** When the last recount ran: once per event is enough (the clock stands still within one, pings are read between). */
  private rebalancedAt = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly closeSlow: (ws: WebSocket, reason: string) => void,
  ) {}

  /**
   * Counts `bytes` about to be sent to `ws`; false if it is known to be closing, or if that would take it over budget
   * (it is then closed).
   */
  admit(ws: WebSocket, bytes: number, now: number): boolean {
    const tally = this.tally(ws, now);
    if (tally.closedAt !== 0) return false;
    const after = backlogAfter(tally.bytes, now - tally.at, DRAIN_PER_MS, bytes);
    this.total += after - tally.bytes;
    tally.bytes = after;
    tally.at = now;
    tally.unconfirmed += bytes;
    if (after > SOCKET_BACKLOG_BYTES && !this.clearedByPing(ws, tally, bytes)) {
      tally.bytes -= bytes;
      tally.unconfirmed -= bytes;
      this.total -= bytes;
      this.closeSlow(ws, `backlog: over ${SOCKET_BACKLOG_BYTES / MiB} MiB sent that the client has not read`);
      return false;
    }
    if (this.total > this.rebalanceAbove && now !== this.rebalancedAt) {
      this.rebalance(now);
      return ws.readyState === WebSocket.OPEN;
    }
    return true;
  }

  /** `ws` refused what `admit` counted, being closed already (it closed while the object slept): undoes it, notes that. */
  refused(ws: WebSocket, bytes: number, now: number): void {
    const tally = this.tally(ws, now);
    const refund = Math.min(bytes, tally.bytes);
    tally.bytes -= refund;
    tally.unconfirmed = Math.max(0, tally.unconfirmed - bytes);
    this.total -= refund;
    if (tally.closedAt === 0) tally.closedAt = now;
  }

  /**
   * Marks `ws` as closing; false if it already was. When the server closed it, what it was sent since its last ping
   * counts until it is gone. When its client closed it, nothing does: the runtime drops it once it is answered.
   */
  markClosing(ws: WebSocket, now: number, byClient: boolean): boolean {
    const tally = this.tally(ws, now);
    if (tally.closedAt !== 0) return false;
    tally.closedAt = now;
    if (byClient) tally.unconfirmed = 0;
    this.total += tally.unconfirmed - tally.bytes;
    tally.bytes = tally.unconfirmed;
    return true;
  }

  /** When `ws` started closing; sockets closed before the object last woke count from now. */
  closingSince(ws: WebSocket, now: number): number {
    const tally = this.tally(ws, now);
    if (tally.closedAt === 0) tally.closedAt = now;
    return tally.closedAt;
  }

  /**
   * Recounts every socket's backlog (drained to `now`, cleared by newer pings) and, while the total is over
   * the object's budget, closes the open sockets with the largest backlog above SHED_FLOOR_BYTES, except those whose
   * client pinged within RECENT_PING_MS: what they hold is on its way to a client that reads (the budget may be
   * passed by closed stuck clients alone, which closing more sockets cannot help).
   */
  rebalance(now: number): void {
    this.rebalancedAt = now;
    let total = 0;
    const open: WebSocket[] = [];
    const backlogs: number[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      const tally = (ws as Tallied)[TALLY];
      if (tally === undefined) continue;
      if (tally.closedAt !== 0 || ws.readyState !== WebSocket.OPEN) {
        total += tally.unconfirmed;
        continue;
      }
      tally.bytes = backlogAfter(tally.bytes, now - tally.at, DRAIN_PER_MS, 0);
      tally.at = now;
      if (tally.bytes > SHED_FLOOR_BYTES / 8) this.clearedByPing(ws, tally, 0);
      open.push(ws);
      backlogs.push(tally.pingAt > now - RECENT_PING_MS ? 0 : tally.bytes);
      total += tally.bytes;
    }
    this.total = total;
    for (const i of sheddingOrder(backlogs, total, OBJECT_BACKLOG_BYTES, SHED_FLOOR_BYTES)) {
      this.closeSlow(open[i] as WebSocket, `backlog: this object's clients left over ${OBJECT_BACKLOG_BYTES / MiB} MiB unread`);
    }
    // Sockets closing with a backlog keep it counted until they are gone; recount only after more was sent.
    this.rebalanceAbove = Math.max(OBJECT_BACKLOG_BYTES, this.total + OBJECT_BACKLOG_BYTES / 4);
  }

  private tally(ws: WebSocket, now: number): Tally {
    let tally = (ws as Tallied)[TALLY];
    if (tally === undefined) {
      tally = { bytes: 0, at: now, unconfirmed: 0, pingAt: 0, closedAt: 0 };
      (ws as Tallied)[TALLY] = tally;
    }
    return tally;
  }

  /** A ping newer than the last one seen proves the client read what came before it: the backlog restarts at `keep`. */
  private clearedByPing(ws: WebSocket, tally: Tally, keep: number): boolean {
    const pingAt = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
    if (pingAt <= tally.pingAt) return false;
    tally.pingAt = pingAt;
    this.total -= tally.bytes - keep;
    tally.bytes = keep;
    tally.unconfirmed = keep;
    return true;
  }
}
