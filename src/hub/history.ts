import { trimDue, type HistoryPolicy, type StoredExtent, type StreamState } from '../core/history-rules';
import { importPositionKey, newEpoch, newPositionKeyBytes } from '../core/positions';
import { base64url } from 'jose';
import type { Receivers } from '../core/validation';

/** A message as history keeps it; `frame` is its mws.v2 frame once built, kept with it in the tail cache. */
export interface StoredMessage {
  seq: number;
  id: string;
  receivers: Receivers;
  data: string | Uint8Array;
  frame?: string | Uint8Array;
}

/** What this object stores about its stream besides the rows; one KV entry, rewritten only when it changes. */
interface StreamRecord {
  /** null until a mws.v2 socket (or `always`) first needs positions. */
  epoch: string | null;
  /** Raw HMAC key for resume tokens, base64url. */
  key: string;
  trimmedThrough: number;
  /** Until when pushes are recorded in `auto` mode: while mws.v2 sockets are here, and maxAge after they leave. */
  leaseUntil: number;
  /** A push went unrecorded under this epoch: the next recording starts a new epoch. */
  lost: boolean;
}

const STREAM_KEY = 'history-stream';
/** Bounds of the in-memory tail of the stream. */
const TAIL_MAX_MESSAGES = 4096;
const TAIL_MAX_BYTES = 8 * 1024 * 1024;

/**
 * This object's stream: every recorded push gets the next seq and one row in SQLite (one INSERT per push, whatever
 * its number of receivers); rows are trimmed in batches by count, bytes and age. In `auto` mode pushes are recorded
 * only while mws.v2 sockets may resume; a push that is not recorded marks the epoch lost, so a later resume is told
 * instead of silently missing it.
 */
export class History {
  private record: StreamRecord | undefined;
  private headSeq: number | undefined;
  private extent: StoredExtent | undefined;
  private key: Promise<CryptoKey> | undefined;
  /** A scan found no mws.v2 socket and none was accepted since: `auto` pushes skip recording without scanning. */
  private v2KnownAbsent = false;
  private tableReady = false;
  /** The newest stored messages, seq `tail.after + 1` to the head, so replays (a mass resume) rarely read SQLite. */
  private tail: { after: number; messages: StoredMessage[]; bytes: number } | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly policy: () => HistoryPolicy,
    /** How long a lease lasts beyond maxAge: covers the keepalive sweeps that renew it while mws.v2 sockets stay. */
    private readonly leaseMarginMs: number,
    /** Scans this object's sockets for a mws.v2 one; called at most once per object life while there is none. */
    private readonly hasV2Sockets: () => boolean,
  ) {}

  /** The stream's epoch, head and trim point; null while it has no epoch. */
  state(): StreamState | null {
    const record = this.load();
    if (record.epoch === null || record.lost) return null;
    return { epoch: record.epoch, head: this.head(), trimmedThrough: record.trimmedThrough };
  }

  /** Makes the stream record for a mws.v2 socket about to connect (a new epoch if history was lost) and returns it. */
  startForV2(now: number): StreamState {
    this.v2KnownAbsent = false;
    this.ensureEpoch();
    this.renewLease(now);
    return this.state() as StreamState;
  }

  /** A mws.v2 socket left or is still here: keep recording for at least maxAge from now. */
  renewLease(now: number): void {
    const record = this.load();
    const until = now + this.policy().maxAgeSeconds * 1000 + this.leaseMarginMs;
    // Rewritten only when it gained a margin's worth, so a burst of connects costs one write.
    if (until - record.leaseUntil >= this.leaseMarginMs / 2) this.save({ ...record, leaseUntil: until });
  }

  /** Records a push and returns it with its seq, or null when this stream does not record it now. */
  append(id: string, receivers: Receivers, data: string | Uint8Array, now: number): StoredMessage | null {
    if (!this.recording(now)) {
      const record = this.load();
      if (record.epoch !== null && !record.lost) this.save({ ...record, lost: true });
      return null;
    }
    this.ensureEpoch();
    const seq = this.head() + 1;
    const size = sizeOf(data);
    this.sql().exec(
      'INSERT INTO history (seq, id, at, sockets, tags, data, bytes, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      seq,
      id,
      now,
      receivers.sockets === null ? null : JSON.stringify(receivers.sockets),
      receivers.tags === null ? null : JSON.stringify(receivers.tags),
      typeof data === 'string' ? data : null,
      typeof data === 'string' ? null : toArrayBuffer(data),
      size,
    );
    this.headSeq = seq;
    const extent = this.storedExtent();
    this.extent = { rows: extent.rows + 1, bytes: extent.bytes + size, oldestAt: extent.oldestAt ?? now };
    const message: StoredMessage = { seq, id, receivers, data };
    if (this.tail !== null) this.keepInTail([message]);
    if (trimDue(this.extent, this.policy(), now)) this.trim(now);
    return message;
  }

  /** Up to `limit` stored messages after `after`, in order. */
  read(after: number, limit: number): StoredMessage[] {
    if (this.tail === null || after < this.tail.after) this.loadTail(after);
    if (this.tail !== null && after >= this.tail.after) return this.tail.messages.slice(after - this.tail.after, after - this.tail.after + limit);
    return this.select(after, limit);
  }

  private select(after: number, limit: number): StoredMessage[] {
    const rows = this.sql()
      .exec<{ seq: number; id: string; sockets: string | null; tags: string | null; data: string | null; bytes: ArrayBuffer | null }>(
        'SELECT seq, id, sockets, tags, data, bytes FROM history WHERE seq > ? ORDER BY seq LIMIT ?',
        after,
        limit,
      )
      .toArray();
    return rows.map((r) => ({
      seq: r.seq,
      id: r.id,
      receivers: { sockets: r.sockets === null ? null : (JSON.parse(r.sockets) as string[]), tags: r.tags === null ? null : (JSON.parse(r.tags) as string[]) },
      data: r.data ?? new Uint8Array(r.bytes ?? new ArrayBuffer(0)),
    }));
  }

  /** The key resume tokens of this stream are signed with. */
  signingKey(): Promise<CryptoKey> {
    this.key ??= importPositionKey(base64url.decode(this.load().key));
    return this.key;
  }

  /** Trims to the policy now: by count, bytes and age. Also run by the alarm, so an idle stream still ages out. */
  trim(now: number): void {
    const record = this.load();
    if (record.epoch === null) return;
    const policy = this.policy();
    const head = this.head();
    let cut = Math.max(record.trimmedThrough, head - policy.maxMessages);
    const fresh = this.sql().exec<{ seq: number }>('SELECT seq FROM history WHERE at >= ? ORDER BY seq LIMIT 1', now - policy.maxAgeSeconds * 1000).toArray()[0];
    cut = Math.max(cut, fresh === undefined ? head : fresh.seq - 1);
    const extent = this.storedExtent();
    if (extent.bytes > policy.maxBytes) {
      let excess = extent.bytes - policy.maxBytes;
      for (const row of this.sql().exec<{ seq: number; size: number }>('SELECT seq, size FROM history WHERE seq > ? ORDER BY seq', cut)) {
        if (excess <= 0) break;
        excess -= row.size;
        cut = row.seq;
      }
    }
    if (cut <= record.trimmedThrough) return;
    this.sql().exec('DELETE FROM history WHERE seq <= ?', cut);
    if (this.tail !== null && this.tail.after < cut) this.dropFromTail(cut - this.tail.after);
    this.save({ ...record, trimmedThrough: cut });
    this.extent = undefined;
  }

  /** When the alarm should next trim by age, or null when nothing is stored. */
  nextExpiryAt(): number | null {
    if (this.load().epoch === null) return null;
    const oldestAt = this.storedExtent().oldestAt;
    return oldestAt === null ? null : oldestAt + this.policy().maxAgeSeconds * 1000;
  }

  /** Drops what memory holds, as the object's storage is erased (the table goes with it). */
  forget(): void {
    this.record = undefined;
    this.headSeq = undefined;
    this.extent = undefined;
    this.key = undefined;
    this.v2KnownAbsent = false;
    this.tail = null;
    this.tableReady = false;
  }

  /** The table is created on first use, which only a stream with an epoch reaches: raw-only tenants store nothing. */
  private sql(): SqlStorage {
    if (!this.tableReady) {
      this.storage.sql.exec(
        'CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, at INTEGER NOT NULL, sockets TEXT, tags TEXT, data TEXT, bytes BLOB, size INTEGER NOT NULL)',
      );
      this.tableReady = true;
    }
    return this.storage.sql;
  }

  /** Caches the messages from `after` to the head when they fit; leaves the cache as it was when they do not. */
  private loadTail(after: number): void {
    const head = this.head();
    if (head - after > TAIL_MAX_MESSAGES || after < this.load().trimmedThrough) return;
    const messages = this.select(after, TAIL_MAX_MESSAGES);
    const bytes = messages.reduce((sum, m) => sum + sizeOf(m.data), 0);
    if (bytes > TAIL_MAX_BYTES) return;
    this.tail = { after, messages, bytes };
  }

  private keepInTail(messages: StoredMessage[]): void {
    const tail = this.tail as NonNullable<typeof this.tail>;
    for (const m of messages) {
      tail.messages.push(m);
      tail.bytes += sizeOf(m.data);
    }
    let drop = 0;
    while (tail.messages.length - drop > TAIL_MAX_MESSAGES || (tail.bytes > TAIL_MAX_BYTES && drop < tail.messages.length)) {
      tail.bytes -= sizeOf((tail.messages[drop] as StoredMessage).data);
      drop++;
    }
    if (drop > 0) this.dropFromTail(drop);
  }

  private dropFromTail(count: number): void {
    const tail = this.tail as NonNullable<typeof this.tail>;
    const dropped = tail.messages.splice(0, count);
    tail.after += dropped.length;
    tail.bytes -= dropped.reduce((sum, m) => sum + sizeOf(m.data), 0);
  }

  private recording(now: number): boolean {
    if (this.policy().mode === 'always' || this.load().leaseUntil > now) return true;
    if (this.v2KnownAbsent) return false;
    if (this.hasV2Sockets()) {
      this.renewLease(now);
      return true;
    }
    this.v2KnownAbsent = true;
    return false;
  }

  /** Starts a new epoch when there is none or the current one lost a push; what was stored under the old one goes. */
  private ensureEpoch(): void {
    const record = this.load();
    if (record.epoch !== null && !record.lost) return;
    const head = this.head();
    this.sql().exec('DELETE FROM history');
    this.extent = { rows: 0, bytes: 0, oldestAt: null };
    this.tail = { after: head, messages: [], bytes: 0 };
    this.save({ ...record, epoch: newEpoch(), lost: false, trimmedThrough: head });
  }

  private head(): number {
    if (this.headSeq === undefined) {
      const max = this.sql().exec<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM history').one().seq;
      this.headSeq = Math.max(max ?? 0, this.load().trimmedThrough);
    }
    return this.headSeq;
  }

  private storedExtent(): StoredExtent {
    this.extent ??= this.sql()
      .exec<{ rows: number; bytes: number; oldestAt: number | null }>('SELECT COUNT(*) AS rows, COALESCE(SUM(size), 0) AS bytes, MIN(at) AS oldestAt FROM history')
      .one();
    return this.extent;
  }

  private load(): StreamRecord {
    this.record ??= this.storage.kv.get<StreamRecord>(STREAM_KEY) ?? { epoch: null, key: base64url.encode(newPositionKeyBytes()), trimmedThrough: 0, leaseUntil: 0, lost: false };
    return this.record;
  }

  private save(record: StreamRecord): void {
    this.storage.kv.put(STREAM_KEY, record);
    this.record = record;
  }
}

function sizeOf(data: string | Uint8Array): number {
  return typeof data === 'string' ? data.length : data.byteLength;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}
