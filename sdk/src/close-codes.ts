/** Close codes the MWS service sends (the same table as the service's README; the service imports this one). */
export const CloseCode = {
  /** The tenant was deleted. Never reconnect. */
  TENANT_DELETED: 4000,
  /** A backend called DELETE /v1/sockets/{id}. Never reconnect. */
  REMOVED: 4001,
  /** The socket sent no `ping` for two keepalive intervals. Reconnect. */
  KEEPALIVE_TIMEOUT: 4002,
  /** A newer connection took this socket id. Never reconnect (the newer one would be kicked out in turn). */
  REPLACED: 4003,
  /** The connect token was missing, unknown, already used or expired. Reconnect only with a fresh uri. */
  INVALID_TOKEN: 4401,
  /** The tenant does not exist. Never reconnect. */
  TENANT_NOT_FOUND: 4404,
  /**
   * The client sent more than `ping`s (raw mode: its socket only receives), or, with `clientMessages: "webhook"`,
   * more messages than the flood limit allows. Fix the client before reconnecting.
   */
  POLICY_VIOLATION: 1008,
  /** With `clientMessages: "webhook"`: the client sent a frame over 8192 bytes. Fix the client before reconnecting. */
  MESSAGE_TOO_BIG: 1009,
  /** A send to the socket failed and the server dropped it. Reconnect. */
  SEND_FAILED: 1011,
} as const;

/** Close codes the client itself uses (3000-3999 is the range for libraries). */
export const ClientCloseCode = {
  /** The client closed the socket because no `pong` answered its `ping` in time. It reconnects. */
  PONG_TIMEOUT: 3000,
  /** `close()` was called. */
  NORMAL: 1000,
} as const;

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
