import type { JWTPayload } from 'jose';

/**
 * Who may read (connect) and write (push) in `jwt` mode. Each entry is `*` (any valid token),
 * `user:<sub>` (that subject) or `group:<name>` (a member: the name is in the token's groups claim).
 */
export type { AccessPolicy } from '../../sdk/src/protocol';

export const POLICY_ENTRY_PATTERN = /^(\*|user:.+|group:.+)$/;

export function policyAllows(entries: readonly string[], claims: JWTPayload, groupsClaim: string): boolean {
  const groups = groupsOf(claims[groupsClaim]);
  return entries.some((entry) => {
    if (entry === '*') return true;
    if (entry.startsWith('user:')) return claims.sub !== undefined && entry.slice(5) === claims.sub;
    if (entry.startsWith('group:')) return groups.includes(entry.slice(6));
    return false;
  });
}

/** A groups claim may be an array of strings or one space-separated string (like OAuth `scope`). */
function groupsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  if (typeof value === 'string') return value.split(' ').filter((g) => g !== '');
  return [];
}
