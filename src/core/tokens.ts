import { base64url } from 'jose';

/** Opaque secrets: generation, hashing for storage, and constant-time comparison. */

const encoder = new TextEncoder();

/** A fresh unguessable token: `prefix` + 256 random bits, base64url. */
export function randomToken(prefix = ''): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return prefix + base64url.encode(bytes);
}

/** A unique id that needs no secrecy: `prefix` + `bytes` random bytes, hex (webhook, batch and event ids). */
export function randomHexId(prefix: string, bytes: number): string {
  let id = prefix;
  for (const byte of crypto.getRandomValues(new Uint8Array(bytes))) id += HEX[byte];
  return id;
}

/** SHA-256 of a token, hex. Tokens are stored only in this form. */
export async function hashToken(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token)));
  let hex = '';
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Compares two secrets in time independent of where they differ (both are hashed first, so lengths match). */
export async function secretsEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(presented), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** True when `token` hashes to one of `storedHashes`; every stored hash is compared, in constant time each. */
export async function matchesStoredHash(token: string, storedHashes: readonly string[]): Promise<boolean> {
  const presented = encoder.encode(await hashToken(token));
  let match = false;
  for (const stored of storedHashes) {
    const expected = encoder.encode(stored);
    if (expected.byteLength === presented.byteLength && crypto.subtle.timingSafeEqual(presented, expected)) match = true;
  }
  return match;
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get('authorization');
  if (header === null) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest('SHA-256', encoder.encode(value));
}
