import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { ApiError } from './errors';
import { looksLikeJwt, verifyEndUserToken, type JwtSettings } from './jwt';
import { policyAllows } from './policy';
import type { TenantRecord } from './tenant-record';
import { matchesStoredHash } from './tokens';
import { tagProblem } from './fields';

/**
 * Who may do what: the security token may do everything; `connect` and `push` are public in `none` mode and
 * governed by the policy for end-user JWTs in `jwt` mode; `manage` always needs the security token.
 */
export type Action = 'connect' | 'push' | 'manage';

/** Who is calling, once authorized. */
export type Principal = { kind: 'backend' } | { kind: 'public' } | { kind: 'user'; claims: JWTPayload };

/** Decides whether `bearer` may do `action` on `tenant`; throws a 401/403 ApiError saying why not. */
export async function authorize(tenant: TenantRecord, bearer: string | null, action: Action, remoteKeySets: Map<string, JWTVerifyGetKey>): Promise<Principal> {
  if (bearer === null) {
    if (tenant.accessControl === 'none' && action !== 'manage') return { kind: 'public' };
    throw new ApiError(401, 'unauthorized', 'Missing "Authorization: Bearer <token>" header.');
  }
  if (await matchesStoredHash(bearer, tenant.securityTokenHashes)) return { kind: 'backend' };
  if (tenant.accessControl === 'jwt' && tenant.jwt !== undefined && action !== 'manage' && looksLikeJwt(bearer)) {
    const claims = await verifyEndUserToken(bearer, tenant.jwt, remoteKeySets);
    const allowed = action === 'connect' ? tenant.jwt.policy.read : tenant.jwt.policy.write;
    if (!policyAllows(allowed, claims, tenant.jwt.groupsClaim)) {
      throw new ApiError(403, 'forbidden', `The token is valid but the tenant's policy does not let it ${action === 'connect' ? 'read (connect)' : 'write (push)'}.`);
    }
    return { kind: 'user', claims };
  }
  throw new ApiError(401, 'unauthorized', action === 'manage' ? "This call needs the tenant's security token." : 'Invalid token for this tenant.');
}

/**
 * The tags of a socket opened with an end user's token: `user:<sub>` when the tenant asks for it. A `sub` that
 * cannot be a tag is refused (401 `invalid_claims`) rather than dropped, so backends never push to a tag nobody has.
 */
export function subjectTags(claims: JWTPayload, settings: JwtSettings | undefined): string[] {
  if (!settings?.subjectTag || typeof claims.sub !== 'string') return [];
  const tag = `user:${claims.sub}`;
  const problem = tagProblem(tag);
  if (problem !== null) throw new ApiError(401, 'invalid_claims', `The token's "sub" cannot tag the socket: "user:<sub>" ${problem.message}`);
  return [tag];
}
