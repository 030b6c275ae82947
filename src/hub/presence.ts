import { allShards, type Cursor } from '../core/shards';
import { layoutOf, type TenantRecord } from '../core/tenant-record';
import { userTag } from '../core/receivers';
import type { TagPresence } from '../../sdk/src/protocol';
import { listPage } from './fan-out';
import type { ShardCalls } from './shard-calls';

export type { TagPresence };

/** `GET /v1/tags/{tag}`: how many sockets have the tag on all shards, and a page of them. */
export async function tagPresence(shards: ShardCalls, tenant: TenantRecord, tag: string, limit: number, cursor: Cursor | null): Promise<TagPresence> {
  const [counts, page] = await Promise.all([presenceCounts(shards, tenant, [tag]), listPage(shards, tenant, limit, cursor, tag)]);
  return { tag, count: counts[tag] ?? 0, ...page };
}

/** `GET /v1/presence?tags=`: sockets per tag, summed over every shard; from memory, no storage read. */
export async function presenceCounts(shards: ShardCalls, tenant: TenantRecord, tags: readonly string[]): Promise<Record<string, number>> {
  const perShard = await shards.each(tenant.name, allShards(layoutOf(tenant)), (hub) => hub.shardCountTags([...tags]));
  const counts: Record<string, number> = {};
  for (const [i, tag] of tags.entries()) counts[tag] = perShard.reduce((sum, shardCounts) => sum + (shardCounts[i] ?? 0), 0);
  return counts;
}

/** A tag became occupied or vacant on one shard. */
export interface TagChange {
  tag: string;
  occupied: boolean;
}

/**
 * How many open sockets carry each tag on this object, for noticing the first arrival and the last departure.
 * Counted from the runtime's tag index the first time a tag is touched in this life of the object, then tracked
 * as sockets come and go (each socket's departure is reported exactly once, see Sockets).
 */
export class LocalTagCounts {
  private readonly counts = new Map<string, number>();

  constructor(private readonly ctx: DurableObjectState) {}

  /** `joining` was accepted and `leaving` are on their way out (replaced); returns the tags that changed state. */
  change(joining: { ws: WebSocket; tags: readonly string[] } | null, leaving: readonly { ws: WebSocket | null; tags: readonly string[] }[]): TagChange[] {
    const before = new Map<string, number>();
    const touch = (tag: string, except: WebSocket | null, delta: number): void => {
      const current = this.counts.get(tag) ?? this.countOpen(tag, except) + (delta < 0 ? 1 : 0);
      if (!before.has(tag)) before.set(tag, current);
      this.counts.set(tag, Math.max(0, current + delta));
    };
    if (joining !== null) for (const tag of joining.tags) touch(tag, joining.ws, +1);
    for (const socket of leaving) for (const tag of socket.tags) touch(tag, socket.ws, -1);
    const changes: TagChange[] = [];
    for (const [tag, was] of before) {
      const now = this.counts.get(tag) ?? 0;
      if (was === 0 && now > 0) changes.push({ tag, occupied: true });
      else if (was > 0 && now === 0) changes.push({ tag, occupied: false });
      if (now === 0) this.counts.delete(tag);
    }
    return changes;
  }

  forget(): void {
    this.counts.clear();
  }

  private countOpen(tag: string, except: WebSocket | null): number {
    let n = 0;
    for (const ws of this.ctx.getWebSockets(userTag(tag))) if (ws !== except && ws.readyState === WebSocket.OPEN) n++;
    return n;
  }
}

/**
 * Shard 0's view of which shards have each tag occupied, so `tag.occupied` and `tag.vacated` describe the whole
 * tenant: a tag is occupied when its first shard reports it and vacated when its last one does. Shards report in
 * order through their outbox; `seq` makes a repeated report harmless.
 */
export class TagOccupancy {
  private tablesReady = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** The object's storage is being erased. */
  forget(): void {
    this.tablesReady = false;
  }

  private sql(): SqlStorage {
    if (!this.tablesReady) {
      this.storage.sql.exec('CREATE TABLE IF NOT EXISTS tag_shards (tag TEXT NOT NULL, shard INTEGER NOT NULL, PRIMARY KEY (tag, shard))');
      this.storage.sql.exec('CREATE TABLE IF NOT EXISTS tag_reports (shard INTEGER PRIMARY KEY, seq INTEGER NOT NULL)');
      this.tablesReady = true;
    }
    return this.storage.sql;
  }

  /** Applies one shard's changes (seq > 0 for reports from another shard); returns the tenant-wide changes. */
  apply(shard: number, changes: readonly (TagChange & { seq: number })[]): TagChange[] {
    const sql = this.sql();
    const seen = sql.exec<{ seq: number }>('SELECT seq FROM tag_reports WHERE shard = ?', shard).toArray()[0]?.seq ?? 0;
    const out: TagChange[] = [];
    let last = seen;
    for (const change of changes) {
      if (change.seq !== 0 && change.seq <= seen) continue;
      last = Math.max(last, change.seq);
      const written = change.occupied
        ? sql.exec('INSERT OR IGNORE INTO tag_shards (tag, shard) VALUES (?, ?)', change.tag, shard).rowsWritten
        : sql.exec('DELETE FROM tag_shards WHERE tag = ? AND shard = ?', change.tag, shard).rowsWritten;
      if (written === 0) continue;
      const shardsWithTag = sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM tag_shards WHERE tag = ?', change.tag).one().n;
      if (change.occupied ? shardsWithTag === 1 : shardsWithTag === 0) out.push({ tag: change.tag, occupied: change.occupied });
    }
    if (last > seen) sql.exec('INSERT OR REPLACE INTO tag_reports (shard, seq) VALUES (?, ?)', shard, last);
    return out;
  }

  /** Forgets every tag (no webhook listens to tag events any more). */
  clear(): void {
    this.sql().exec('DELETE FROM tag_shards');
  }
}
