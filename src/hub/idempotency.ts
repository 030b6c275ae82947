import { ApiError } from '../core/errors';
import { IDEMPOTENCY_IN_FLIGHT_MS, IDEMPOTENCY_RETENTION_MS, MAX_IDEMPOTENCY_KEYS } from '../core/limits';

/** What a push with an `Idempotency-Key` has done so far. */
export interface KeyedPush {
  /** The message id, the same on every retry. */
  messageId: string;
  /** Sockets reached per shard that completed, so a retry skips them. */
  done: Map<number, number>;
  /** No request used the key before. */
  fresh: boolean;
}

/** How a keyed push goes on: answer the first response again, or deliver (what is left of) it. */
export type KeyedStart = { replay: { id: string; sent: number } } | { deliver: KeyedPush };

type KeyRow = {
  fingerprint: string;
  message_id: string;
  state: 'pending' | 'partial' | 'done';
  started_at: number;
  sent: number;
  shards: string;
};

/**
 * `Idempotency-Key`s of `POST /v1/messages`, kept by the tenant's shard 0: the request's fingerprint, its message id,
 * the shards that completed and the answer. Each shard also remembers the keyed message ids it delivered
 * (ShardDeliveries), so a retry after a partial failure sends only where the message is missing, and nowhere twice.
 */
export class IdempotencyKeys {
  private readonly retention: Retention;

  constructor(storage: DurableObjectStorage) {
    this.retention = new Retention(
      storage,
      'CREATE TABLE IF NOT EXISTS idempotency_keys (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, message_id TEXT NOT NULL, state TEXT NOT NULL, started_at INTEGER NOT NULL, created_at INTEGER NOT NULL, sent INTEGER NOT NULL, shards TEXT NOT NULL)',
      'idempotency_keys',
      'key',
      'created_at',
    );
  }

  /** Replays, refuses (422 another body, 409 still in flight) or says what is left to deliver; writes nothing. */
  check(key: string, fingerprint: string, now: number): KeyedStart {
    const row = this.retention.sql().exec<KeyRow>('SELECT fingerprint, message_id, state, started_at, sent, shards FROM idempotency_keys WHERE key = ?', key).toArray()[0];
    if (row === undefined) return { deliver: { messageId: crypto.randomUUID(), done: new Map(), fresh: true } };
    if (row.fingerprint !== fingerprint) {
      throw new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body; use a new key for a new message.');
    }
    if (row.state === 'done') return { replay: { id: row.message_id, sent: row.sent } };
    if (row.state === 'pending' && now - row.started_at < IDEMPOTENCY_IN_FLIGHT_MS) {
      throw new ApiError(409, 'idempotency_key_in_flight', 'A request with this Idempotency-Key is still being delivered; retry shortly.', { headers: { 'retry-after': '1' } });
    }
    return { deliver: { messageId: row.message_id, done: new Map(JSON.parse(row.shards) as [number, number][]), fresh: false } };
  }

  /** Marks a keyed push in flight (a fanned-out push awaits its shards; until it ends, the key answers 409). */
  begin(key: string, fingerprint: string, push: KeyedPush, now: number): void {
    this.save(key, fingerprint, push, 'pending', 0, now);
  }

  /** Shard `shard` delivered the keyed push to `sent` sockets. */
  shardDone(key: string, push: KeyedPush, shard: number, sent: number): void {
    push.done.set(shard, sent);
    this.retention.sql().exec('UPDATE idempotency_keys SET shards = ? WHERE key = ?', JSON.stringify([...push.done]), key);
  }

  /** Some shards missed it: a retry with the key completes them. */
  partial(key: string): void {
    this.retention.sql().exec("UPDATE idempotency_keys SET state = 'partial' WHERE key = ?", key);
  }

  /** The push completed: later requests with the key get this answer. Returns the sockets reached in all. */
  finish(key: string, fingerprint: string, push: KeyedPush, now: number): number {
    const sent = [...push.done.values()].reduce((a, b) => a + b, 0);
    this.save(key, fingerprint, push, 'done', sent, now);
    return sent;
  }

  forget(): void {
    this.retention.forget();
  }

  private save(key: string, fingerprint: string, push: KeyedPush, state: KeyRow['state'], sent: number, now: number): void {
    if (push.fresh) {
      this.retention.makeRoom(now);
      push.fresh = false;
    }
    this.retention.sql().exec(
      'INSERT INTO idempotency_keys (key, fingerprint, message_id, state, started_at, created_at, sent, shards) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET state = excluded.state, started_at = excluded.started_at, sent = excluded.sent, shards = excluded.shards',
      key,
      fingerprint,
      push.messageId,
      state,
      now,
      now,
      sent,
      JSON.stringify([...push.done]),
    );
  }
}

/**
 * The keyed message ids one shard delivered and to how many sockets, so a retried keyed push is sent once per shard
 * even when the first answer was lost on the way back.
 */
export class ShardDeliveries {
  private readonly retention: Retention;

  constructor(storage: DurableObjectStorage) {
    this.retention = new Retention(
      storage,
      'CREATE TABLE IF NOT EXISTS keyed_deliveries (message_id TEXT PRIMARY KEY, sent INTEGER NOT NULL, at INTEGER NOT NULL)',
      'keyed_deliveries',
      'message_id',
      'at',
    );
  }

  /** Runs `deliver` unless this shard delivered the message before; either way, how many sockets it reached. */
  once(messageId: string, deliver: () => number): number {
    const before = this.retention.sql().exec<{ sent: number }>('SELECT sent FROM keyed_deliveries WHERE message_id = ?', messageId).toArray()[0];
    if (before !== undefined) return before.sent;
    const sent = deliver();
    const now = Date.now();
    this.retention.makeRoom(now);
    this.retention.sql().exec('INSERT INTO keyed_deliveries (message_id, sent, at) VALUES (?, ?, ?)', messageId, sent, now);
    return sent;
  }

  forget(): void {
    this.retention.forget();
  }
}

/** Purges run at most this often; between them the count cap holds the table. */
const PURGE_EVERY_MS = 3600_000;

/**
 * One table of keys, created on first use (only an object with a tenant gets there), kept to
 * IDEMPOTENCY_RETENTION_MS and MAX_IDEMPOTENCY_KEYS rows: counted once per object life, purged of expired rows at
 * most hourly, and rid of the oldest rows past the cap before each new one.
 */
class Retention {
  private count: number | undefined;
  private purgedAt = 0;
  private tableReady = false;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly schema: string,
    private readonly table: string,
    private readonly keyColumn: string,
    private readonly timeColumn: string,
  ) {}

  sql(): SqlStorage {
    if (!this.tableReady) {
      this.storage.sql.exec(this.schema);
      this.tableReady = true;
    }
    return this.storage.sql;
  }

  /** Call before inserting one row. */
  makeRoom(now: number): void {
    this.count ??= this.sql().exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${this.table}`).one().n;
    if (now - this.purgedAt > PURGE_EVERY_MS) {
      this.purgedAt = now;
      this.count -= this.sql().exec(`DELETE FROM ${this.table} WHERE ${this.timeColumn} < ?`, now - IDEMPOTENCY_RETENTION_MS).rowsWritten;
    }
    if (this.count >= MAX_IDEMPOTENCY_KEYS) {
      const excess = this.count - MAX_IDEMPOTENCY_KEYS + 1;
      this.sql().exec(`DELETE FROM ${this.table} WHERE ${this.keyColumn} IN (SELECT ${this.keyColumn} FROM ${this.table} ORDER BY ${this.timeColumn} LIMIT ?)`, excess);
      this.count -= excess;
    }
    this.count++;
  }

  forget(): void {
    this.count = undefined;
    this.purgedAt = 0;
    this.tableReady = false;
  }
}
