import { CloseCode } from './protocol.js';

/** The close-code tables live in protocol.ts, which the service imports too. */
export { CloseCode, ClientCloseCode } from './protocol.js';
export type { CloseCodeValue } from './protocol.js';

/** Codes after which reconnecting can never succeed or would fight another connection. */
const FINAL_CODES: ReadonlySet<number> = new Set([
  CloseCode.TENANT_DELETED,
  CloseCode.REMOVED,
  CloseCode.REPLACED,
  CloseCode.TENANT_NOT_FOUND,
]);

/**
 * Whether a close with `code` ends the client for good.
 * 4401 is final only with a static uri: with `getUri` a fresh, unused uri can be fetched.
 */
export function isFinalCloseCode(code: number, hasUriCallback: boolean): boolean {
  if (FINAL_CODES.has(code)) return true;
  return code === CloseCode.INVALID_TOKEN && !hasUriCallback;
}
