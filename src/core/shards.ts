import { base64url } from 'jose';
import { JWT_CLOCK_TOLERANCE_SECONDS, MAX_CONNECT_JWT_LIFETIME_SECONDS, MAX_SHARDS } from './limits';

/**
 * Spreading one tenant over several Durable Objects ("shards"), as pure functions.
 * A socket lives in the shard its id hashes to; shard 0 is the tenant's own object and holds its configuration.
 */

export interface ShardLayout {
  /** Where new sockets are placed. */
  shards: number;
  /**
   * Earlier shard counts, newest first, each remembered until no socket it placed is left (at most MAX_SHARDS - 1
   * distinct counts): a socket id may live on its shard under any of them.
   */
  previous: number[];
}

export const SINGLE_SHARD: ShardLayout = { shards: 1, previous: [] };

/** FNV-1a, 32 bit: cheap, stable across runtimes, and spreads UUIDs and user ids evenly. */
export function hashId(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export function shardOf(id: string, shards: number): number {
  return shards <= 1 ? 0 : hashId(id) % shards;
}

/** Every shard that may hold a socket with this id: where it goes now, and where earlier layouts put it. */
export function shardsForId(id: string, layout: ShardLayout): number[] {
  return [...new Set([layout.shards, ...layout.previous].map((n) => shardOf(id, n)))];
}

/** Every shard that may hold any socket. */
export function allShards(layout: ShardLayout): number[] {
  const count = Math.max(layout.shards, ...layout.previous);
  return Array.from({ length: count }, (_, i) => i);
}

/** The layout after changing the shard count: the old count is remembered while sockets may still use it. */
export function resize(layout: ShardLayout, shards: number): ShardLayout {
  if (shards === layout.shards) return layout;
  return { shards, previous: [layout.shards, ...layout.previous.filter((n) => n !== layout.shards && n !== shards)] };
}

/**
 * The earlier counts that placed some of `ids`, held by `shard`, where the current count would not: the counts
 * pushes by id still need. A socket on the shard the current count names needs none.
 */
export function countsInUse(ids: Iterable<string>, shard: number, layout: ShardLayout): number[] {
  const used = new Set<number>();
  for (const id of ids) {
    if (shardOf(id, layout.shards) === shard) continue;
    for (const n of layout.previous) if (shardOf(id, n) === shard) used.add(n);
  }
  return [...used];
}

/** The layout without the earlier counts nothing uses any more. */
export function withoutUnused(layout: ShardLayout, inUse: ReadonlySet<number>): ShardLayout {
  return { shards: layout.shards, previous: layout.previous.filter((n) => inUse.has(n)) };
}

/**
 * When the counts left behind by a resize at `resizedAt` may be forgotten: after every connect token issued under
 * them has expired (connect URIs after their TTL, backend-minted JWTs an hour plus the clock tolerance after they
 * could last be accepted), with a minute's margin. Before that a token could still place a socket by an old count.
 */
export function layoutSettlesAt(resizedAt: number, connectTokenTtlMs: number): number {
  const jwtMs = (MAX_CONNECT_JWT_LIFETIME_SECONDS + JWT_CLOCK_TOLERANCE_SECONDS) * 1000;
  return resizedAt + Math.max(connectTokenTtlMs, jwtMs) + 60_000;
}

/** Shard 0 is named after the tenant (so a one-shard tenant is just its object); shard k after `tenant/k`. */
export function shardObjectName(tenant: string, shard: number): string {
  return shard === 0 ? tenant : `${tenant}/${shard}`;
}

/** Groups socket ids by the shards that may hold them. */
export function idsByShard(ids: readonly string[], layout: ShardLayout): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const id of ids) {
    for (const shard of shardsForId(id, layout)) {
      const list = out.get(shard) ?? [];
      list.push(id);
      out.set(shard, list);
    }
  }
  return out;
}

/** Set by the Worker on upgrades it routed by the tenant's shard layout (backend-minted JWTs): the shard it chose. */
export const ROUTED_SHARD_HEADER = 'x-mws-shard';
/** What a shard answers a JWT upgrade whose socket id it does not hold under the current layout: route it again. */
export const MISDIRECTED_STATUS = 421;

/** Opaque connect tokens name their shard as a `k~` prefix (none for shard 0), so an upgrade goes straight there. */
export function tokenForShard(shard: number, secret: string): string {
  return shard === 0 ? secret : `${shard}~${secret}`;
}

/** The secret part of an opaque connect token, after its shard prefix. */
export function tokenSecret(token: string): string {
  return token.replace(/^\d{1,2}~/, '');
}

export function shardFromToken(token: string): number {
  const match = /^(\d{1,2})~/.exec(token);
  const shard = match ? Number(match[1]) : 0;
  return shard < MAX_SHARDS ? shard : 0;
}

/** A fresh socket id that hashes to `shard` (expected `shards` tries). */
export function idForShard(shard: number, shards: number, newId: () => string = () => crypto.randomUUID()): string {
  for (;;) {
    const id = newId();
    if (shardOf(id, shards) === shard) return id;
  }
}

/** Where `GET /v1/sockets` resumes: a shard, and the last id listed in it. */
export interface Cursor {
  shard: number;
  after: string;
}

export function encodeCursor(cursor: Cursor): string {
  return base64url.encode(JSON.stringify([cursor.shard, cursor.after]));
}

/** The cursor, or null when it is not one this service handed out. */
export function decodeCursor(text: string): Cursor | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(text)));
    if (Array.isArray(value) && Number.isInteger(value[0]) && value[0] >= 0 && value[0] < MAX_SHARDS && typeof value[1] === 'string') {
      return { shard: value[0], after: value[1] };
    }
  } catch {
    // Fall through: not ours.
  }
  return null;
}
