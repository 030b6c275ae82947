import { MAX_CLOSE_REASON_BYTES } from './limits';

/** Every close code the service sends. The README's "Close codes" table lists the same. */
export const CloseCode = {
  /** The service is going away for this socket (tenant deleted). Never reconnect. */
  TENANT_DELETED: 4000,
  /** A backend called DELETE /v1/sockets/{id}. Never reconnect with the same uri. */
  REMOVED: 4001,
  /** The socket pinged before, then sent no `ping` for two keepalive intervals. Reconnect. */
  KEEPALIVE_TIMEOUT: 4002,
  /** A newer connection took this socket id. Do not reconnect this one. */
  REPLACED: 4003,
  /** The connect token was missing, unknown, already used or expired. Ask the backend for a new uri. */
  INVALID_TOKEN: 4401,
  /** The tenant does not exist. */
  TENANT_NOT_FOUND: 4404,
  /** The client sent more than `ping`s: this socket only receives. */
  POLICY_VIOLATION: 1008,
  /** A send to the socket failed; the server dropped it. Reconnect. */
  SEND_FAILED: 1011,
} as const;

/** Closes a socket without throwing (it may already be closing), with the reason cut to what the platform accepts. */
export function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, fitCloseReason(reason));
  } catch {
    // Already closed or closing: nothing left to do.
  }
}

export function fitCloseReason(reason: string): string {
  const encoder = new TextEncoder();
  let out = reason;
  while (encoder.encode(out).byteLength > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}
