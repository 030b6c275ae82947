import { MAX_CLOSE_REASON_BYTES } from '../core/limits';

/** Every close code the service sends: one table, shared with the client SDK. */
export { CloseCode } from '../../sdk/src/protocol';

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
