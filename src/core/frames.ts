import type { ResumeFailure } from './history-rules';

/**
 * The frames of the `mws.v2` WebSocket subprotocol. Raw connections (no subprotocol) never see any of them: they get
 * each message's data as one frame and nothing else.
 */

export const V2_PROTOCOL = 'mws.v2';

/** First frame of every mws.v2 connection: where its stream starts, and the token to resume it with. */
export interface HelloFrame {
  type: 'hello';
  socket: string;
  epoch: string;
  /** Messages that follow have a greater seq; after a successful resume it is the position resumed from. */
  seq: number;
  /** Resume with `resume=<last seq processed>.<this token>` on the next connect URI. */
  resume: string;
  /** Bytes the service sends before it waits for an ack. */
  window: number;
  /** Present when the connection asked to resume: whether it did (on false a `resume_failed` frame follows). */
  resumed?: boolean;
}

/** A text message. Binary messages come as binary frames (encodeBinaryMessage). */
export interface MessageFrame {
  type: 'msg';
  seq: number;
  id: string;
  data: string;
}

/** A resume, or a catch-up after a pause, could not replay everything: live messages follow from `seq`. */
export interface ResumeFailedFrame {
  type: 'resume_failed';
  reason: ResumeFailure;
  message: string;
  seq: number;
}

/** From the client: every message up to `seq` was processed (cumulative). */
export interface AckFrame {
  type: 'ack';
  seq: number;
}

export type ServerFrame = HelloFrame | MessageFrame | ResumeFailedFrame;

/** The first byte of a binary mws.v2 frame that carries a message. */
export const BINARY_MESSAGE_KIND = 0x01;

/** `Sec-WebSocket-Protocol` of an upgrade: `mws.v2` when the client offers it, else null (raw). */
export function chooseProtocol(header: string | null): typeof V2_PROTOCOL | null {
  if (header === null) return null;
  return header.split(',').some((p) => p.trim() === V2_PROTOCOL) ? V2_PROTOCOL : null;
}

export function textMessageFrame(seq: number, id: string, data: string): string {
  return JSON.stringify({ type: 'msg', seq, id, data } satisfies MessageFrame);
}

/**
 * A binary message: byte 0 is BINARY_MESSAGE_KIND, bytes 1-8 the seq (unsigned 64-bit big-endian), byte 9 the
 * length n of the message id in bytes, then the id (UTF-8), then the message's bytes.
 */
export function binaryMessageFrame(seq: number, id: string, bytes: Uint8Array): Uint8Array {
  const idBytes = new TextEncoder().encode(id);
  const frame = new Uint8Array(10 + idBytes.byteLength + bytes.byteLength);
  const view = new DataView(frame.buffer);
  frame[0] = BINARY_MESSAGE_KIND;
  view.setBigUint64(1, BigInt(seq));
  frame[9] = idBytes.byteLength;
  frame.set(idBytes, 10);
  frame.set(bytes, 10 + idBytes.byteLength);
  return frame;
}

export function decodeBinaryMessageFrame(frame: Uint8Array): { seq: number; id: string; bytes: Uint8Array } | null {
  if (frame.byteLength < 10 || frame[0] !== BINARY_MESSAGE_KIND) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const idLength = frame[9] as number;
  if (frame.byteLength < 10 + idLength) return null;
  return {
    seq: Number(view.getBigUint64(1)),
    id: new TextDecoder().decode(frame.subarray(10, 10 + idLength)),
    bytes: frame.subarray(10 + idLength),
  };
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
