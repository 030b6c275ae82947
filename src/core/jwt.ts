import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ApiError } from './errors';
import { JWT_CLOCK_TOLERANCE_SECONDS, MAX_CONNECT_JWT_LIFETIME_SECONDS, MAX_USER_LENGTH } from './limits';
import type { JwtSettings } from '../../sdk/src/protocol';

/** How a tenant in `jwt` mode verifies its end users' tokens. Exactly one of secret, jwks, jwksUrl is set. */
export type { JwtSettings };

/** A backend's connect-token signing key (HS256), stored so the tenant object can verify what backends mint. */
export interface SigningKey {
  kid: string;
  secret: string;
  createdAt: number;
}

export const END_USER_ALGORITHMS_HMAC = ['HS256'];
export const END_USER_ALGORITHMS_PUBLIC_KEY = ['RS256', 'ES256'];

const encoder = new TextEncoder();

/** A JWT has three base64url parts; opaque MWS tokens have none of the dots. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Verifies an end user's token against the tenant's settings: it must expire (`exp`). Throws a 401 ApiError saying
 * why it failed, or 503 `key_set_unavailable` when the tenant's JWKS URL cannot be fetched.
 */
export async function verifyEndUserToken(token: string, settings: JwtSettings, remoteKeySets: Map<string, JWTVerifyGetKey>): Promise<JWTPayload> {
  const options = { issuer: settings.issuer, audience: settings.audience, requiredClaims: ['exp'], clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS };
  try {
    if (settings.secret !== undefined) {
      return (await jwtVerify(token, encoder.encode(settings.secret), { ...options, algorithms: END_USER_ALGORITHMS_HMAC })).payload;
    }
    const keys = settings.jwks !== undefined ? createLocalJWKSet(settings.jwks as JSONWebKeySet) : remoteKeySet(settings.jwksUrl ?? '', remoteKeySets);
    return (await jwtVerify(token, keys, { ...options, algorithms: END_USER_ALGORITHMS_PUBLIC_KEY })).payload;
  } catch (err) {
    throw jwtError(err);
  }
}

export interface ConnectClaims {
  socketId: string | null;
  tags: string[];
  /** `sub`, when it is a string of at most MAX_USER_LENGTH characters. */
  user: string | null;
  jti: string;
  expiresAt: number;
}

/**
 * Verifies a connect token minted by a backend: HS256 with one of the tenant's signing keys (header `kid`),
 * `aud` = the tenant name, `exp` at most an hour ahead, a `jti` for single use, optional `sid` and `tags`.
 */
export async function verifyConnectToken(token: string, tenant: string, keys: readonly SigningKey[]): Promise<ConnectClaims> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      (header) => {
        const key = keys.find((k) => k.kid === header.kid);
        if (key === undefined) throw new errors.JWKSNoMatchingKey();
        return encoder.encode(key.secret);
      },
      { audience: tenant, algorithms: ['HS256'], requiredClaims: ['exp', 'jti'], clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS },
    ));
  } catch (err) {
    throw jwtError(err);
  }
  const exp = payload.exp as number;
  if (exp - Date.now() / 1000 > MAX_CONNECT_JWT_LIFETIME_SECONDS) {
    throw new ApiError(401, 'invalid_claims', `exp may be at most ${MAX_CONNECT_JWT_LIFETIME_SECONDS} seconds ahead.`);
  }
  const sid = payload.sid;
  const tags = payload.tags;
  if ((sid !== undefined && typeof sid !== 'string') || (tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string')))) {
    throw new ApiError(401, 'invalid_claims', 'sid must be a string and tags an array of strings.');
  }
  return { socketId: sid ?? null, tags: (tags as string[] | undefined) ?? [], user: userOf(payload), jti: String(payload.jti), expiresAt: exp * 1000 };
}

/** The user a token speaks for, as events report it: its `sub`, when it is a string of reasonable length. */
export function userOf(claims: JWTPayload): string | null {
  return typeof claims.sub === 'string' && claims.sub.length <= MAX_USER_LENGTH ? claims.sub : null;
}

function remoteKeySet(url: string, cache: Map<string, JWTVerifyGetKey>): JWTVerifyGetKey {
  let set = cache.get(url);
  if (set === undefined) {
    set = unavailableWhenUnfetched(url, createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }));
    cache.set(url, set);
  }
  return set;
}

/**
 * The key set, but any failure other than choosing a key from a fetched set becomes 503 `key_set_unavailable`.
 * A failed fetch is reported by the runtime, not by jose, so it cannot be recognised by its type: on workerd a
 * refused connection is a plain `Error: Network connection lost.`, a DNS or TLS failure `Error: internal error`.
 */
function unavailableWhenUnfetched(url: string, keySet: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
      console.warn('JWKS fetch failed', new URL(url).origin, String(err));
      throw new ApiError(503, 'key_set_unavailable', "The tenant's JWKS could not be fetched; retry shortly.", { headers: { 'retry-after': '5' } });
    }
  };
}

/** Maps jose's errors to the documented 401 reasons. */
export function jwtError(err: unknown): ApiError {
  const fail = (reason: string, message: string) => new ApiError(401, reason, message);
  if (err instanceof ApiError) return err;
  if (err instanceof errors.JWTExpired) return fail('token_expired', 'The token has expired.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return fail('token_not_yet_valid', 'The token is not valid yet.');
    if (err.claim === 'aud') return fail('invalid_audience', 'The token was issued for another audience.');
    if (err.claim === 'iss') return fail('invalid_issuer', 'The token was issued by another issuer.');
    return fail('invalid_claims', `The token's "${err.claim}" claim is missing or wrong.`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return fail('unsupported_algorithm', 'The token is signed with an algorithm this tenant does not accept.');
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return fail('invalid_signature', 'The token signature does not verify with the tenant\'s keys.');
  }
  return fail('invalid_token', 'The token is not a well-formed JWT.');
}
