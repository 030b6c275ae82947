import type { JWTVerifyGetKey } from 'jose';
import { authorize, type Action, type Principal } from '../core/access';
import { ApiError } from '../core/errors';
import type { SigningKey } from '../core/jwt';
import { MAX_SECURITY_TOKENS, MAX_SIGNING_KEYS, MAX_VERIFIED_TOKENS } from '../core/limits';
import type { TenantRecord } from '../core/tenant-record';
import { hashToken, randomToken } from '../core/tokens';
import type { TenantStore } from './tenant-store';

/**
 * Who may call (shard 0): the tenant's security tokens, the signing keys with which backends mint connect tokens, and
 * the bearer tokens already checked. Changes go through the tenant store, one at a time, like every change.
 */
export class TenantCredentials {
  /** Bearer tokens already matched against this record's security-token hashes; a saved record starts a new set. */
  private verified: { record: TenantRecord; tokens: Set<string> } | null = null;
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly store: TenantStore) {}

  /** The tenant and who is calling; throws 404 without a tenant and 401/403 when `bearer` may not do `action`. */
  async authorize(bearer: string | null, action: Action): Promise<{ tenant: TenantRecord; principal: Principal }> {
    const tenant = this.store.requireTenant();
    if (this.verified?.record !== tenant) this.verified = { record: tenant, tokens: new Set() };
    const verified = this.verified.tokens;
    if (bearer !== null && verified.has(bearer)) return { tenant, principal: { kind: 'backend' } };
    const principal = await authorize(tenant, bearer, action, this.remoteKeySets);
    if (principal.kind === 'backend' && bearer !== null && verified.size < MAX_VERIFIED_TOKENS) verified.add(bearer);
    return { tenant, principal };
  }

  /** Issues a new security token; the newest previous one stays valid until revoked or rotated out. */
  rotateSecurityToken(): Promise<{ securityToken: string; validTokens: number }> {
    return this.store.update(async (tenant) => {
      const securityToken = randomToken('mws_');
      const hashes = [await hashToken(securityToken), ...tenant.securityTokenHashes].slice(0, MAX_SECURITY_TOKENS);
      return { record: { ...tenant, securityTokenHashes: hashes }, result: { securityToken, validTokens: hashes.length } };
    });
  }

  revokePreviousSecurityTokens(): Promise<{ validTokens: number }> {
    return this.store.update((tenant) => {
      const hashes = tenant.securityTokenHashes.slice(0, 1);
      return { record: { ...tenant, securityTokenHashes: hashes }, result: { validTokens: hashes.length } };
    });
  }

  /** Creates an HS256 key with which backends mint connect tokens themselves; its secret is shown once. */
  createSigningKey(): Promise<{ kid: string; secret: string; algorithm: 'HS256'; createdAt: string }> {
    return this.store.update((tenant) => {
      const keys = tenant.signingKeys ?? [];
      if (keys.length >= MAX_SIGNING_KEYS) {
        throw new ApiError(409, 'too_many_signing_keys', `A tenant has at most ${MAX_SIGNING_KEYS} signing keys; delete one first.`);
      }
      const key: SigningKey = { kid: randomToken('key_').slice(0, 24), secret: randomToken(), createdAt: Date.now() };
      return {
        record: { ...tenant, signingKeys: [...keys, key] },
        result: { kid: key.kid, secret: key.secret, algorithm: 'HS256', createdAt: new Date(key.createdAt).toISOString() },
      };
    });
  }

  listSigningKeys(tenant: TenantRecord): { results: { kid: string; createdAt: string }[] } {
    return { results: (tenant.signingKeys ?? []).map((k) => ({ kid: k.kid, createdAt: new Date(k.createdAt).toISOString() })) };
  }

  deleteSigningKey(kid: string): Promise<Record<string, never>> {
    return this.store.update((tenant) => {
      const keys = tenant.signingKeys ?? [];
      if (!keys.some((k) => k.kid === kid)) throw new ApiError(404, 'signing_key_not_found', `No signing key "${kid}".`);
      return { record: { ...tenant, signingKeys: keys.filter((k) => k.kid !== kid) }, result: {} };
    });
  }
}
