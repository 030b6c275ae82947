import { base64url } from 'jose';
import { MAX_PREVIOUS_LAYOUTS, MAX_SHARDS } from './limits';

/**
 * Spreading one tenant over several Durable Objects ("shards"), as pure functions.
 * A socket lives in the shard its id hashes to; shard 0 is the tenant's own object and holds its configuration.
 */

export interface ShardLayout {
  /** Where new sockets are placed. */
  shards: number;
  /** Earlier shard counts, newest first; their sockets may still be connected. */
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
  const previous = [layout.shards, ...layout.previous.filter((n) => n !== layout.shards && n !== shards)].slice(0, MAX_PREVIOUS_LAYOUTS);
  return { shards, previous };
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
