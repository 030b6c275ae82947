import { socketIdTag } from '../core/receivers';
import { webhookEvent, type ClosedBy, type SocketEventData, type WebhookEvent } from '../core/webhook-events';
import { subscriptionsOf, type Subscriptions } from '../core/webhook-record';
import type { Outbox } from './outbox';
import type { EventSettings } from './placement';
import { LocalTagCounts, type TagChange, type TagOccupancy } from './presence';
import type { SocketListener, SocketSnapshot } from './sockets';
import { insertRows } from './sql-batches';
import type { WriteBehind } from './write-behind';

/** The outbox target through which shard k > 0 reports its tag changes to shard 0. */
export const TAG_REPORTS_TARGET = '#tag-reports';

type Pending =
  | { kind: 'event'; event: WebhookEvent }
  | { kind: 'live'; socket: SocketSnapshot; present: boolean }
  | { kind: 'tags'; changes: TagChange[] };

const RESTART_CLOSE_CODE = 1006;

/**
 * Turns sockets coming, going and talking into webhook events, queued in the outbox. The connect path only appends
 * to memory: the outbox write happens in the next write-behind batch (WriteBehind, shared with spent connect tokens),
 * so a 101 never waits for storage and a burst of connects pays for one commit. While anything listens for
 * departures, a table of live sockets lets a restarted object report the sockets the restart dropped (the runtime
 * calls no close handler for them).
 */
export class SocketEvents implements SocketListener {
  private pending: Pending[] = [];
  private readonly tagCounts: LocalTagCounts;
  private tablesReady = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly settings: () => EventSettings | null,
    private readonly outbox: Outbox,
    private readonly occupancy: TagOccupancy,
    private readonly later: WriteBehind,
    /** Called after events were queued: deliver them in the next delivery run. */
    private readonly queued: () => void,
  ) {
    this.tagCounts = new LocalTagCounts(ctx);
  }

  /**
   * The live-sockets table, created on first use (only an object with a tenant gets there). Keyed by connect time, so
   * a burst of connects appends to its last pages; keyed by socket id (as earlier versions did, in `live_sockets`),
   * random ids put every connect on another page of the index.
   */
  private sql(): SqlStorage {
    const sql = this.ctx.storage.sql;
    if (!this.tablesReady) {
      sql.exec(`CREATE TABLE IF NOT EXISTS live_sockets_by_time (
        connected_at INTEGER NOT NULL, id TEXT NOT NULL, tags TEXT NOT NULL, user TEXT, PRIMARY KEY (connected_at, id)) WITHOUT ROWID`);
      if (sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'live_sockets'").toArray().length > 0) {
        this.ctx.storage.transactionSync(() => {
          sql.exec('INSERT OR IGNORE INTO live_sockets_by_time (connected_at, id, tags, user) SELECT connected_at, id, tags, user FROM live_sockets');
          sql.exec('DROP TABLE live_sockets');
        });
      }
      this.tablesReady = true;
    }
    return sql;
  }

  get listening(): boolean {
    return this.subscriptions().any;
  }

  get forwardsMessages(): boolean {
    return this.settings()?.clientMessages === 'webhook';
  }

  connected(socket: SocketSnapshot, replaced: SocketSnapshot[]): void {
    const subs = this.subscriptions();
    for (const old of replaced) this.departed(subs, old, 4003, 'replaced by a newer connection with the same socket id', 'replaced');
    this.emit(subs, 'socket.connected', socketData(socket), socket.connectedAt);
    if (tracksLive(subs)) this.push({ kind: 'live', socket, present: true });
    if (tracksTags(subs)) this.pushTags(this.tagCounts.change({ ws: socket.ws as WebSocket, tags: socket.tags }, replaced.map(asLeaving)));
  }

  gone(socket: SocketSnapshot, code: number, reason: string, closedBy: ClosedBy): void {
    const subs = this.subscriptions();
    this.departed(subs, socket, code, reason, closedBy);
    if (tracksTags(subs)) this.pushTags(this.tagCounts.change(null, [asLeaving(socket)]));
  }

  message(socket: SocketSnapshot, data: string): void {
    this.emit(this.subscriptions(), 'socket.message', { ...socketData(socket), data }, Date.now());
  }

  /**
   * Reports the sockets a restart dropped: live rows without a socket. Cheap when nothing was dropped: it looks at
   * the newest row first, since a restart drops every socket of the object at once.
   */
  reconcile(): void {
    // Runs at every wake-up: nothing to read unless departures are tracked (settingsChanged empties the table when not).
    if (!tracksLive(this.subscriptions())) return;
    const sql = this.sql();
    const newest = sql.exec<{ id: string }>('SELECT id FROM live_sockets_by_time ORDER BY connected_at DESC LIMIT 1').toArray()[0];
    if (newest === undefined || this.ctx.getWebSockets(socketIdTag(newest.id)).length > 0) return;
    const rows = sql.exec<{ id: string; tags: string; user: string | null; connected_at: number }>('SELECT * FROM live_sockets_by_time').toArray();
    for (const row of rows) {
      if (this.ctx.getWebSockets(socketIdTag(row.id)).length > 0) continue;
      const socket: SocketSnapshot = { ws: null, id: row.id, tags: JSON.parse(row.tags) as string[], user: row.user, connectedAt: row.connected_at };
      this.gone(socket, RESTART_CLOSE_CODE, 'the service restarted', 'restart');
    }
  }

  /** Applies tag changes reported by `shard` (shard 0 only) and queues the tenant-wide events; see TagOccupancy. */
  applyTagReports(shard: number, changes: readonly (TagChange & { seq: number })[]): void {
    this.ctx.storage.transactionSync(() => {
      const perTarget = new Map<string, string[]>();
      this.tagEvents(this.subscriptions(), this.occupancy.apply(shard, changes), perTarget);
      for (const [target, events] of perTarget) this.outbox.enqueue(target, events);
    });
    this.queued();
  }

  /** After the webhooks changed: forget what no webhook needs any more. */
  settingsChanged(): void {
    const subs = this.subscriptions();
    if (!tracksLive(subs)) this.sql().exec('DELETE FROM live_sockets_by_time');
    if (!tracksTags(subs)) {
      this.tagCounts.forget();
      this.occupancy.clear();
    }
  }

  /** The object's storage is being erased. */
  forget(): void {
    this.pending = [];
    this.tagCounts.forget();
    this.tablesReady = false;
  }

  private subscriptions(): Subscriptions {
    return subscriptionsOf(this.settings()?.webhooks);
  }

  private departed(subs: Subscriptions, socket: SocketSnapshot, code: number, reason: string, closedBy: ClosedBy): void {
    this.emit(subs, 'socket.disconnected', { ...socketData(socket), code, reason, closedBy }, Date.now());
    if (tracksLive(subs)) this.push({ kind: 'live', socket, present: false });
  }

  private emit<E extends WebhookEvent>(subs: Subscriptions, type: E['type'], data: E['data'], at: number): void {
    if (subs.byType.has(type)) this.push({ kind: 'event', event: webhookEvent<E>(type, data, at) });
  }

  private pushTags(changes: TagChange[]): void {
    if (changes.length > 0) this.push({ kind: 'tags', changes });
  }

  private push(item: Pending): void {
    this.later.schedule(this.flush);
    this.pending.push(item);
  }

  /** Writes what piled up since the last flush in one transaction, then wakes the outbox. */
  private readonly flush = (): void => {
    const items = this.pending;
    this.pending = [];
    const settings = this.settings();
    if (settings === null || items.length === 0) return;
    const subs = subscriptionsOf(settings.webhooks);
    try {
      this.ctx.storage.transactionSync(() => {
        const perTarget = new Map<string, string[]>();
        const tagChanges: TagChange[] = [];
        const arrived: SocketSnapshot[] = [];
        for (const item of items) {
          if (item.kind === 'event') for (const target of subs.byType.get(item.event.type) ?? []) append(perTarget, target, JSON.stringify(item.event));
          else if (item.kind === 'live' && item.present) arrived.push(item.socket);
          else if (item.kind === 'live') this.writeLive(arrived.splice(0), item.socket);
          else tagChanges.push(...item.changes);
        }
        this.writeLive(arrived, null);
        if (tagChanges.length > 0 && settings.shard === 0) this.tagEvents(subs, this.occupancy.apply(0, tagChanges.map((c) => ({ ...c, seq: 0 }))), perTarget);
        else if (tagChanges.length > 0) for (const change of tagChanges) append(perTarget, TAG_REPORTS_TARGET, JSON.stringify(change));
        for (const [target, events] of perTarget) this.outbox.enqueue(target, events);
      });
    } catch (err) {
      console.error(`could not queue ${items.length} webhook events (shard ${settings.shard})`, String(err));
      return;
    }
    this.queued();
  };

  private tagEvents(subs: Subscriptions, changes: readonly TagChange[], perTarget: Map<string, string[]>): void {
    for (const change of changes) {
      const type = change.occupied ? 'tag.occupied' : 'tag.vacated';
      const targets = subs.byType.get(type) ?? [];
      if (targets.length === 0) continue;
      const json = JSON.stringify(webhookEvent(type, { tag: change.tag }, Date.now()));
      for (const target of targets) append(perTarget, target, json);
    }
  }

  /** Records sockets that arrived, then one that left; in that order, as they happened. */
  private writeLive(arrived: readonly SocketSnapshot[], left: SocketSnapshot | null): void {
    const sql = this.sql();
    insertRows(
      sql,
      'INSERT OR IGNORE INTO live_sockets_by_time (id, tags, user, connected_at)',
      arrived.map((socket) => [socket.id, JSON.stringify(socket.tags), socket.user, socket.connectedAt]),
    );
    if (left !== null) sql.exec('DELETE FROM live_sockets_by_time WHERE connected_at = ? AND id = ?', left.connectedAt, left.id);
  }
}

function socketData(socket: SocketSnapshot): SocketEventData {
  return { id: socket.id, tags: socket.tags, user: socket.user, connectedAt: new Date(socket.connectedAt).toISOString() };
}

function asLeaving(socket: SocketSnapshot): { ws: WebSocket | null; tags: readonly string[] } {
  return { ws: socket.ws, tags: socket.tags };
}

/** Departures must be reported even across a restart: keep the live-sockets table. */
function tracksLive(subs: Subscriptions): boolean {
  return subs.byType.has('socket.disconnected') || tracksTags(subs);
}

function tracksTags(subs: Subscriptions): boolean {
  return subs.byType.has('tag.occupied') || subs.byType.has('tag.vacated');
}

function append(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
