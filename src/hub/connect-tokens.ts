import { ApiError } from '../core/errors';
import { looksLikeJwt, verifyConnectToken } from '../core/jwt';
import { JWT_CLOCK_TOLERANCE_SECONDS, MAX_REMEMBERED_RESERVATIONS, MAX_TAGS_PER_SOCKET } from '../core/limits';
import { idForShard, shardOf, tokenSecret } from '../core/shards';
import { hashToken } from '../core/tokens';
import { socketIdProblem, tagProblem } from '../core/fields';
import type { Placement } from './tenant-store';
import { execWhereIn } from './sql-batches';
import type { WriteBehind } from './write-behind';

/** What an opaque connect token grants: one socket id with its tags, until it expires. */
export interface Grant {
  id: string;
  tags: string[];
  user: string | null;
}

interface Reservation extends Grant {
  expiresAt: number;
}

/** What redeeming a token gives: a grant, null (unknown, used or expired), or "misdirected" (a JWT for another shard). */
export type Redemption = Grant | null | 'misdirected';

/** Records a JWT's `jti` on the other shards its socket id may have used before; false if one of them had it. */
export type SpendElsewhere = (jti: string, socketId: string, until: number) => Promise<boolean>;

/**
 * The connect tokens one object has issued and redeemed. Storage holds SHA-256 hashes only and is the truth after a
 * restart; memory holds the tokens issued in this life of the object, so most connects need neither a hash nor a
 * storage read. A redeemed token is marked in memory at once (synchronously, so two connects with one token cannot
 * both win) and its row is marked spent in the next write-behind batch (WriteBehind), so the 101 never waits for a
 * storage write and a burst of connects costs one write; marks a failed flush left in memory go with the next one.
 * The flush marks rows by rowid rather than deleting them by hash: rows reserved together sit on the same few pages,
 * while their hashes are spread over the whole index (in a micro-benchmark on workerd, deleting by hash cost 21-27 µs
 * a token, marking by rowid 7-10 µs); the sweep deletes rows once they expire, spent or not.
 * Backend-minted JWTs are made single-use by recording their `jti` until they can no longer verify.
 * The tables are created on first use, which only an object with a tenant reaches: an object without one stores nothing.
 */
export class ConnectTokens {
  /** Reservations made in this life of the object, by token, with the rowid of their row. */
  private readonly remembered = new Map<string, Reservation & { row: number }>();
  /** Tokens spent whose rows are not marked yet, with their rowids. */
  private readonly redeemed = new Map<string, number>();
  private tablesReady = false;
  /** Counts erasures, so a flush that started before one does not write after it. */
  private generation = 0;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly later: WriteBehind,
  ) {}

  /** Stores a reservation; false when the object was erased meanwhile (its tenant is gone). */
  async reserve(token: string, grant: Grant, expiresAt: number): Promise<boolean> {
    const generation = this.generation;
    const tokenHash = await hashToken(token);
    if (generation !== this.generation) return false;
    const { row } = this.sql()
      .exec<{ row: number }>(
        'INSERT INTO reservations (token_hash, socket_id, tags, expires_at, user) VALUES (?, ?, ?, ?, ?) RETURNING rowid AS row',
        tokenHash,
        grant.id,
        JSON.stringify(grant.tags),
        expiresAt,
        grant.user,
      )
      .one();
    if (this.remembered.size < MAX_REMEMBERED_RESERVATIONS) this.remembered.set(token, { ...grant, expiresAt, row });
    return true;
  }

  /**
   * What a connect token grants, spending it: an opaque token from a reservation, or a JWT a backend minted.
   * Null when it is unknown, used or expired; throws a 401 ApiError when a JWT does not verify.
   */
  redeemAny(token: string, placement: Placement, spendElsewhere: SpendElsewhere): Promise<Redemption> {
    return looksLikeJwt(token) ? this.redeemJwt(token, placement, spendElsewhere) : this.redeem(tokenSecret(token));
  }

  /**
   * Verifies a backend-minted connect JWT and records its `jti` so it works once. Its socket belongs on the shard
   * its `sid` hashes to under the current layout (shard 0 without a `sid`); anywhere else it is "misdirected".
   * The `jti` is recorded here and, while earlier layouts are remembered, on the shards they put the `sid` on,
   * where it was recorded if the token connected before a resize.
   */
  async redeemJwt(token: string, placement: Placement, spendElsewhere: SpendElsewhere): Promise<Redemption> {
    const claims = await verifyConnectToken(token, placement.tenant, placement.signingKeys);
    const problems = [claims.socketId === null ? null : socketIdProblem(claims.socketId), ...claims.tags.map(tagProblem)].filter((p) => p !== null);
    const tags = [...new Set(claims.tags)];
    if (problems.length > 0 || tags.length > MAX_TAGS_PER_SOCKET) throw new ApiError(401, 'invalid_claims', 'sid or tags break the documented limits.');
    const home = claims.socketId === null ? 0 : shardOf(claims.socketId, placement.layout.shards);
    if (home !== placement.shard) return 'misdirected';
    const until = claims.expiresAt + JWT_CLOCK_TOLERANCE_SECONDS * 1000;
    if (!this.spendJti(claims.jti, until)) return null;
    if (claims.socketId !== null && placement.layout.previous.length > 0 && !(await spendElsewhere(claims.jti, claims.socketId, until))) return null;
    return { id: claims.socketId ?? idForShard(placement.shard, placement.layout.shards), tags, user: claims.user };
  }

  /** The grant of an unexpired, unused opaque token, spending it; null otherwise. */
  async redeem(token: string): Promise<Grant | null> {
    if (this.redeemed.has(token)) return null;
    const remembered = this.remembered.get(token);
    let reservation: (Reservation & { row: number }) | null;
    if (remembered !== undefined) {
      this.remembered.delete(token);
      reservation = remembered;
    } else {
      const tokenHash = await hashToken(token);
      // Another connect with this token may have won while we hashed.
      if (this.redeemed.has(token)) return null;
      reservation = this.stored(tokenHash);
    }
    if (reservation === null || reservation.expiresAt <= Date.now()) return null;
    this.redeemed.set(token, reservation.row);
    this.later.schedule(this.flush);
    return { id: reservation.id, tags: reservation.tags, user: reservation.user };
  }

  /** Records a backend-minted token's `jti` until `until` (epoch ms); false when it was used before. */
  spendJti(jti: string, until: number): boolean {
    return this.sql().exec('INSERT OR IGNORE INTO used_connect_tokens (jti, expires_at) VALUES (?, ?)', jti, until).rowsWritten > 0;
  }

  /** Forgets what expired by `now`; returns how many tokens are still pending (the sweep runs while any are). */
  purgeExpired(now: number): number {
    const sql = this.sql();
    sql.exec('DELETE FROM reservations WHERE expires_at <= ?', now);
    sql.exec('DELETE FROM used_connect_tokens WHERE expires_at <= ?', now);
    for (const [token, r] of this.remembered) if (r.expiresAt <= now) this.remembered.delete(token);
    return sql.exec<{ n: number }>('SELECT (SELECT COUNT(*) FROM reservations) + (SELECT COUNT(*) FROM used_connect_tokens) AS n').one().n;
  }

  /** Drops what memory holds, as the object's storage is erased (the tables go with it). */
  forget(): void {
    this.remembered.clear();
    this.redeemed.clear();
    this.tablesReady = false;
    this.generation++;
  }

  private sql(): SqlStorage {
    if (!this.tablesReady) {
      this.storage.sql.exec(
        'CREATE TABLE IF NOT EXISTS reservations (token_hash TEXT PRIMARY KEY, socket_id TEXT NOT NULL, tags TEXT NOT NULL, expires_at INTEGER NOT NULL, user TEXT)',
      );
      // Tables of objects made by earlier versions lack the columns added since.
      const columns = new Set(this.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('reservations')").toArray().map((c) => c.name));
      if (!columns.has('user')) this.storage.sql.exec('ALTER TABLE reservations ADD COLUMN user TEXT');
      if (!columns.has('spent')) this.storage.sql.exec('ALTER TABLE reservations ADD COLUMN spent INTEGER NOT NULL DEFAULT 0');
      this.storage.sql.exec('CREATE TABLE IF NOT EXISTS used_connect_tokens (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)');
      this.tablesReady = true;
    }
    return this.storage.sql;
  }

  private stored(tokenHash: string): (Reservation & { row: number }) | null {
    const row = this.sql()
      .exec<{ row: number; socket_id: string; tags: string; expires_at: number; user: string | null }>(
        'SELECT rowid AS row, socket_id, tags, expires_at, user FROM reservations WHERE token_hash = ? AND spent = 0',
        tokenHash,
      )
      .toArray()[0];
    return row === undefined ? null : { row: row.row, id: row.socket_id, tags: JSON.parse(row.tags) as string[], expiresAt: row.expires_at, user: row.user };
  }

  private readonly flush = (): void => {
    const spent = [...this.redeemed];
    if (spent.length === 0) return;
    try {
      const sql = this.sql();
      this.storage.transactionSync(() => execWhereIn(sql, 'UPDATE reservations SET spent = 1 WHERE rowid', spent.map(([, row]) => row)));
      for (const [token] of spent) this.redeemed.delete(token);
    } catch (err) {
      // The marks stay in memory, so the tokens stay spent; the sweep removes the rows once they expire.
      console.error('could not mark redeemed reservations spent', String(err));
    }
  };
}
