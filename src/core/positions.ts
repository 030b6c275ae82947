import { base64url } from 'jose';
import { MAX_RESUME_PARAM_LENGTH } from './limits';

/**
 * Resume positions. A mws.v2 connection's `hello` carries a resume token signed by its shard (HMAC-SHA-256 with a
 * key only that object holds): which shard, epoch and socket id it is for, a digest of the socket's tags, and the
 * lowest seq it may resume from. A client resumes with `resume=<seq>.<token>`, `seq` being the last message it
 * processed. A token from another tenant or shard, or altered in any way, does not verify.
 */

export interface PositionClaims {
  tenant: string;
  shard: number;
  epoch: string;
  /** The socket id the token was issued to. */
  id: string;
  /** tagsDigest() of that socket's tags. */
  tags: string;
  from: number;
}

const TOKEN_VERSION = 1;
const MAC_BYTES = 16;
const encoder = new TextEncoder();

/** A fresh signing key for a stream's resume tokens, as raw bytes to store. */
export function newPositionKeyBytes(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export function importPositionKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

export async function signPosition(key: CryptoKey, claims: PositionClaims): Promise<string> {
  const payload = base64url.encode(JSON.stringify([TOKEN_VERSION, claims.tenant, claims.shard, claims.epoch, claims.id, claims.tags, claims.from]));
  return `${payload}.${await mac(key, payload)}`;
}

/** The claims of a token this key signed, or null (forged, altered, or signed by another stream's key). */
export async function verifyPosition(key: CryptoKey, token: string): Promise<PositionClaims | null> {
  const claims = peekPosition(token);
  if (claims === null) return null;
  const [payload = '', presented = ''] = token.split('.');
  const expected = encoder.encode(await mac(key, payload));
  const given = encoder.encode(presented);
  return expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given) ? claims : null;
}

/** The claims of a token, NOT verified: only to tell which tenant, shard and epoch it names. */
export function peekPosition(token: string): PositionClaims | null {
  const parts = token.split('.');
  if (parts.length !== 2) return null;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0] as string)));
    if (!Array.isArray(value) || value.length !== 7 || value[0] !== TOKEN_VERSION) return null;
    const [, tenant, shard, epoch, id, tags, from] = value as unknown[];
    if (typeof tenant !== 'string' || !isSeq(shard) || typeof epoch !== 'string' || typeof id !== 'string' || typeof tags !== 'string' || !isSeq(from)) return null;
    return { tenant, shard, epoch, id, tags, from };
  } catch {
    return null;
  }
}

/** `<seq>.<token>` from the connect URI's `resume` parameter, or null when it is not that shape. */
export function parseResumeParam(value: string): { seq: number; token: string } | null {
  if (value.length > MAX_RESUME_PARAM_LENGTH) return null;
  const match = /^(\d{1,15})\.([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(value);
  if (match === null) return null;
  return { seq: Number(match[1]), token: match[2] as string };
}

/** A digest of a socket's tags (order and duplicates ignored), so a position binds the tags it was issued for. */
export async function tagsDigest(tags: readonly string[]): Promise<string> {
  const canonical = JSON.stringify([...new Set(tags)].sort());
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(canonical)));
  return base64url.encode(digest.slice(0, 12));
}

/** A fresh random epoch name. */
export function newEpoch(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(8)));
}

async function mac(key: CryptoKey, payload: string): Promise<string> {
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(payload)));
  return base64url.encode(signature.slice(0, MAC_BYTES));
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
