import { encodeBinaryMessage, V2_PROTOCOL, type AckFrame, type MessageFrame } from '../../sdk/src/protocol';

/**
 * Building and reading mws.v2 frames on the service side; their shapes are sdk/src/protocol.ts's. Raw connections
 * (no subprotocol) never see any of them: they get each message's data as one frame and nothing else.
 */
export { V2_PROTOCOL };

/** `Sec-WebSocket-Protocol` of an upgrade: `mws.v2` when the client offers it, else null (raw). */
export function chooseProtocol(header: string | null): typeof V2_PROTOCOL | null {
  if (header === null) return null;
  return header.split(',').some((p) => p.trim() === V2_PROTOCOL) ? V2_PROTOCOL : null;
}

/** The frame of a message: JSON text for text, a binary frame with the documented header for bytes. */
export function messageFrame(seq: number, id: string, data: string | Uint8Array): string | Uint8Array {
  return typeof data === 'string' ? JSON.stringify({ type: 'msg', seq, id, data } satisfies MessageFrame) : encodeBinaryMessage(seq, id, data);
}

/** A client frame of a mws.v2 socket, or null when it is not one. */
export function parseClientFrame(text: string): AckFrame | null {
  try {
    const value = JSON.parse(text) as { type?: unknown; seq?: unknown };
    if (value.type === 'ack' && typeof value.seq === 'number' && Number.isSafeInteger(value.seq) && value.seq >= 0) return { type: 'ack', seq: value.seq };
  } catch {
    // not JSON
  }
  return null;
}
