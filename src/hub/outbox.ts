import type { Delivery } from '../../sdk/src/protocol';
import { batchSize, disableAt, retryDelayMs, type Attempt } from '../core/webhook-delivery';
import { MAX_WEBHOOK_BACKLOG_EVENTS, MAX_WEBHOOK_BATCH_EVENTS, WEBHOOK_BATCHES_PER_RUN, WEBHOOK_DELIVERIES_KEPT } from '../core/limits';
import { randomHexId } from '../core/tokens';
import { insertRows } from './sql-batches';

/** One queued event of a target, in the order it was queued. */
export interface QueuedEvent {
  seq: number;
  json: string;
}

/** A batch on its way: `messageId` is its `webhook-id`, the same on every retry, with the same events. */
export interface Batch {
  target: string;
  messageId: string;
  attempt: number;
  events: QueuedEvent[];
}

export interface OutboxHandlers {
  /** Sends one batch; never throws (a failure is an Attempt with ok false). */
  send(batch: Batch): Promise<Attempt>;
  /** Whether attempts to this target are recorded for the deliveries list (webhooks yes, internal targets no). */
  recorded(target: string): boolean;
  /** The target failed for too long, or asked to be left alone: stop delivering to it. */
  giveUp(target: string, reason: string): void;
}

/**
 * The durable outbox of one object: events wait in SQLite, per target (a webhook, or shard 0 for tag changes),
 * until a POST of theirs succeeds. Delivery runs from the object's alarm, one batch in flight per target, so
 * events reach a target in the order they were queued; what queued up meanwhile goes in the next batch. A failed
 * batch is retried unchanged (same `webhook-id`, same events) with exponential backoff.
 */
export class Outbox {
  /** Undelivered events per target, counted once per life of the object and then tracked. */
  private readonly backlog = new Map<string, number>();
  /** Targets being drained now, so an alarm run started by a test beside the scheduled one never sends twice. */
  private readonly draining = new Set<string>();
  private tablesReady = false;
  /** Counts erasures, so a delivery that started before one does not write after it. */
  private generation = 0;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly handlers: OutboxHandlers,
  ) {}

  /** The tables, created on first use (only an object with a tenant gets there: one without stores nothing). */
  private sql(): SqlStorage {
    if (this.tablesReady) return this.storage.sql;
    const sql = this.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, event TEXT NOT NULL, message TEXT)`);
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_by_target ON outbox (target, seq)');
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox_targets (
      target TEXT PRIMARY KEY, next_attempt_at INTEGER NOT NULL, attempts INTEGER NOT NULL, failing_since INTEGER,
      batch_message TEXT, batch_last INTEGER)`);
    // Tables of earlier versions marked a batch on its rows (outbox.message) instead.
    const columns = new Set(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('outbox_targets')").toArray().map((c) => c.name));
    if (!columns.has('batch_message')) sql.exec('ALTER TABLE outbox_targets ADD COLUMN batch_message TEXT');
    if (!columns.has('batch_last')) sql.exec('ALTER TABLE outbox_targets ADD COLUMN batch_last INTEGER');
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox_deliveries (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, message TEXT NOT NULL, attempted_at INTEGER NOT NULL,
      attempt INTEGER NOT NULL, events INTEGER NOT NULL, status INTEGER, latency_ms INTEGER NOT NULL, error TEXT, response TEXT)`);
    sql.exec('CREATE INDEX IF NOT EXISTS outbox_deliveries_by_target ON outbox_deliveries (target, seq)');
    this.tablesReady = true;
    return sql;
  }

  /**
   * Queues events for a target (call inside the caller's transaction). Past MAX_WEBHOOK_BACKLOG_EVENTS the target's
   * backlog is dropped and the target given up.
   */
  enqueue(target: string, eventsJson: readonly string[]): void {
    if (eventsJson.length === 0) return;
    const backlog = this.backlogOf(target) + eventsJson.length;
    if (backlog > MAX_WEBHOOK_BACKLOG_EVENTS) {
      this.drop(target);
      this.handlers.giveUp(target, `more than ${MAX_WEBHOOK_BACKLOG_EVENTS} undelivered events on one shard; they were dropped`);
      return;
    }
    const sql = this.sql();
    insertRows(sql, 'INSERT INTO outbox (target, event)', eventsJson.map((json) => [target, json]));
    sql.exec('INSERT OR IGNORE INTO outbox_targets (target, next_attempt_at, attempts) VALUES (?, 0, 0)', target);
    this.backlog.set(target, backlog);
  }

  /** When the next delivery is due, or null when nothing waits. */
  nextDueAt(): number | null {
    return this.sql().exec<{ at: number | null }>('SELECT MIN(next_attempt_at) AS at FROM outbox_targets').one().at;
  }

  /**
   * Delivers what is due at `now` and was queued by then, every target in parallel; returns when the next delivery is
   * due. Events queued meanwhile wait for the next run, so a burst goes out in full batches.
   */
  async deliverDue(now: number): Promise<number | null> {
    const sql = this.sql();
    const due = sql.exec<{ target: string }>('SELECT target FROM outbox_targets WHERE next_attempt_at <= ?', now).toArray();
    const last = sql.exec<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM outbox').one().seq ?? 0;
    await Promise.all(due.map(({ target }) => this.drain(target, last)));
    return this.nextDueAt();
  }

  /** Drops everything queued for targets not in `keep` (deleted or disabled webhooks). */
  retain(keep: ReadonlySet<string>): void {
    const targets = this.sql().exec<{ target: string }>('SELECT target FROM outbox_targets').toArray();
    for (const { target } of targets) if (!keep.has(target)) this.drop(target);
    this.sql().exec('DELETE FROM outbox_deliveries WHERE target NOT IN (SELECT value FROM json_each(?))', JSON.stringify([...keep]));
  }

  /** The latest attempts for a target, newest first. */
  deliveries(target: string, limit: number): Delivery[] {
    return this.sql()
      .exec<{ message: string; attempted_at: number; attempt: number; events: number; status: number | null; latency_ms: number; error: string | null; response: string | null }>(
        'SELECT * FROM outbox_deliveries WHERE target = ? ORDER BY seq DESC LIMIT ?',
        target,
        limit,
      )
      .toArray()
      .map((row) => ({
        id: row.message,
        attemptedAt: new Date(row.attempted_at).toISOString(),
        attempt: row.attempt,
        events: row.events,
        status: row.status,
        latencyMs: row.latency_ms,
        error: row.error,
        response: row.response,
      }));
  }

  backlogOf(target: string): number {
    let count = this.backlog.get(target);
    if (count === undefined) {
      count = this.sql().exec<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE target = ?', target).one().n;
      this.backlog.set(target, count);
    }
    return count;
  }

  /** The object's storage is being erased: forget what memory holds, and stop deliveries under way. */
  forget(): void {
    this.backlog.clear();
    this.tablesReady = false;
    this.generation++;
  }

  /** Sends batch after batch to one target until it has nothing queued up to `last`, fails, or had its share of this run. */
  private async drain(target: string, last: number): Promise<void> {
    if (this.draining.has(target)) return;
    this.draining.add(target);
    const generation = this.generation;
    try {
      for (let i = 0; i < WEBHOOK_BATCHES_PER_RUN; i++) {
        const batch = this.headBatch(target, last);
        if (batch === null) return;
        const attempt = await this.handlers.send(batch);
        if (generation !== this.generation || !this.settle(batch, attempt)) return;
      }
    } finally {
      this.draining.delete(target);
    }
  }

  /**
   * The batch at the head of a target's queue: the one already sent, if any, else a new one of what waits (queued up
   * to `last`). A new batch's id and extent are written to the target's row before it is sent (one small row, not a
   * mark on each event's row: rows that grow get their pages rewritten), so a retry, even after a restart, resends
   * exactly the same batch.
   */
  private headBatch(target: string, last: number): Batch | null {
    const sql = this.sql();
    const state = sql
      .exec<{ attempts: number; batch_message: string | null; batch_last: number | null }>(
        'SELECT attempts, batch_message, batch_last FROM outbox_targets WHERE target = ?',
        target,
      )
      .toArray()[0];
    // Sizes first, events only for the rows the batch takes: a batch is bounded in bytes, not the rows looked at.
    const rows = sql
      .exec<{ seq: number; bytes: number; message: string | null }>(
        'SELECT seq, length(CAST(event AS BLOB)) AS bytes, message FROM outbox WHERE target = ? ORDER BY seq LIMIT ?',
        target,
        MAX_WEBHOOK_BATCH_EVENTS,
      )
      .toArray();
    if (state === undefined || rows.length === 0) {
      sql.exec('DELETE FROM outbox_targets WHERE target = ?', target);
      return null;
    }
    const head = rows[0] as (typeof rows)[number];
    const { batch_message: inFlight, batch_last: inFlightLast } = state;
    if (inFlight !== null && inFlightLast !== null) return this.batchOf(target, inFlight, state.attempts + 1, rows.filter((r) => r.seq <= inFlightLast));
    if (head.message !== null) return this.batchOf(target, head.message, state.attempts + 1, rows.filter((r) => r.message === head.message));
    if (head.seq > last) return null;
    const fresh = rows.filter((r) => r.seq <= last);
    const take = fresh.slice(0, batchSize(fresh.map((r) => r.bytes)));
    const messageId = randomHexId('msg_', 12);
    sql.exec('UPDATE outbox_targets SET batch_message = ?, batch_last = ? WHERE target = ?', messageId, take[take.length - 1]?.seq, target);
    return this.batchOf(target, messageId, 1, take);
  }

  /** A batch of the given rows (in seq order), with their events read. */
  private batchOf(target: string, messageId: string, attempt: number, members: readonly { seq: number }[]): Batch {
    const first = members[0]?.seq ?? 0;
    const last = members[members.length - 1]?.seq ?? -1;
    const wanted = new Set(members.map((r) => r.seq));
    const events = this.sql()
      .exec<{ seq: number; event: string }>('SELECT seq, event FROM outbox WHERE target = ? AND seq BETWEEN ? AND ? ORDER BY seq', target, first, last)
      .toArray()
      .filter((r) => wanted.has(r.seq))
      .map((r) => ({ seq: r.seq, json: r.event }));
    return { target, messageId, attempt, events };
  }

  /** Records an attempt; on success removes the batch, on failure schedules the retry. Returns whether it succeeded. */
  private settle(batch: Batch, attempt: Attempt): boolean {
    const sql = this.sql();
    const now = Date.now();
    if (this.handlers.recorded(batch.target)) this.record(batch, attempt, now);
    const state = sql.exec<{ failing_since: number | null }>('SELECT failing_since FROM outbox_targets WHERE target = ?', batch.target).toArray()[0];
    // The target was dropped while the batch was in flight (webhook deleted or disabled).
    if (state === undefined) return false;
    if (attempt.ok) {
      const first = batch.events[0]?.seq;
      const last = batch.events[batch.events.length - 1]?.seq;
      const removed = sql.exec('DELETE FROM outbox WHERE target = ? AND seq BETWEEN ? AND ?', batch.target, first, last).rowsWritten;
      this.backlog.set(batch.target, Math.max(0, this.backlogOf(batch.target) - removed));
      sql.exec(
        'UPDATE outbox_targets SET attempts = 0, failing_since = NULL, next_attempt_at = 0, batch_message = NULL, batch_last = NULL WHERE target = ?',
        batch.target,
      );
      return true;
    }
    const failingSince = state.failing_since ?? now;
    if (attempt.gone || now >= disableAt(failingSince)) {
      const why = attempt.gone ? 'the receiver answered 410 Gone' : `deliveries failed for ${Math.round((now - failingSince) / 3_600_000)} hours`;
      this.drop(batch.target);
      this.handlers.giveUp(batch.target, `${why}; last error: ${attempt.error ?? 'none'}`);
      return false;
    }
    sql.exec(
      'UPDATE outbox_targets SET attempts = ?, failing_since = ?, next_attempt_at = ? WHERE target = ?',
      batch.attempt,
      failingSince,
      now + retryDelayMs(batch.attempt, Math.random()),
      batch.target,
    );
    return false;
  }

  private record(batch: Batch, attempt: Attempt, now: number): void {
    const sql = this.sql();
    sql.exec(
      'INSERT INTO outbox_deliveries (target, message, attempted_at, attempt, events, status, latency_ms, error, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      batch.target,
      batch.messageId,
      now,
      batch.attempt,
      batch.events.length,
      attempt.status,
      attempt.latencyMs,
      attempt.error,
      attempt.response,
    );
    sql.exec(
      'DELETE FROM outbox_deliveries WHERE target = ? AND seq <= (SELECT seq FROM outbox_deliveries WHERE target = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)',
      batch.target,
      batch.target,
      WEBHOOK_DELIVERIES_KEPT,
    );
  }

  private drop(target: string): void {
    this.sql().exec('DELETE FROM outbox WHERE target = ?', target);
    this.sql().exec('DELETE FROM outbox_targets WHERE target = ?', target);
    this.backlog.set(target, 0);
  }
}

