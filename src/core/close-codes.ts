import { chooseProtocol } from './frames';
import { MAX_CLOSE_REASON_BYTES } from './limits';

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

/** Why a connect token is refused when it names no reservation this object (or shard) has. */
export const UNKNOWN_TOKEN_REASON = 'connect token is unknown, already used or expired';

/**
 * Completes `request`'s upgrade only to close at once with `code`, so even a browser sees why it was refused. The 101
 * names the subprotocol the client offered: a browser fails a handshake that leaves it out (1006) and would never see
 * the close code.
 */
export function refuseUpgrade(request: Request, code: number, reason: string): Response {
  const protocol = chooseProtocol(request.headers.get('sec-websocket-protocol'));
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  closeQuietly(server, code, reason);
  return new Response(null, { status: 101, webSocket: client, ...(protocol === null ? {} : { headers: { 'sec-websocket-protocol': protocol } }) });
}
