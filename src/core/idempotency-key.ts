import { base64url } from 'jose';
import { ApiError } from './errors';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './limits';
import type { Receivers } from './validation';

/**
 * The `Idempotency-Key` request header (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/):
 * a Structured Fields string (`"..."`), or the same characters unquoted as most clients send them.
 */
export { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER } from '../../sdk/src/protocol';

/** A key with the fingerprint of the request it came with. */
export interface IdempotencyClaim {
  key: string;
  fingerprint: string;
}

/** The key of a request, or null without one; 400 when the header is there but is not a key. */
export function parseIdempotencyKey(header: string | null): string | null {
  if (header === null) return null;
  let key = header.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1).replace(/\\(["\\])/g, '$1');
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key)) {
    throw new ApiError(400, 'invalid_idempotency_key', `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters.`);
  }
  return key;
}

/** SHA-256 of what a push asks for, so a key reused with another body is told apart. */
export async function pushFingerprint(data: string | Uint8Array, receivers: Receivers): Promise<string> {
  const body = typeof data === 'string' ? JSON.stringify(['text', data, receivers]) : JSON.stringify(['bytes', base64url.encode(data), receivers]);
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body))));
}
