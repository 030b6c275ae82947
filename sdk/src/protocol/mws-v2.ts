/**
 * Offer this WebSocket subprotocol (`new WebSocket(uri, ['mws.v2'])`) for envelopes, resume and flow control; the
 * 101 answers it. Without it a connection is raw: each message's data as one frame, nothing else.
 */
export const V2_PROTOCOL = 'mws.v2';

/** First frame of every mws.v2 connection: where its stream starts, and the token to resume it with. */
export interface HelloFrame {
  type: 'hello';
  /** The socket id. */
  socket: string;
  /** The stream's epoch: it changes whenever its history was lost. */
  epoch: string;
  /** Messages that follow have a greater seq. After a successful resume it is the position resumed from. */
  seq: number;
  /** Resume on the next connect URI with `&resume=` resumeParam(last seq processed, this token). */
  resume: string;
  /** Bytes the service sends without an ack before it pauses this socket. */
  window: number;
  /** Present when the connection asked to resume: whether it did (false: a `resume_failed` frame follows). */
  resumed?: boolean;
}

/** A text message. Binary messages arrive as binary frames: decodeBinaryMessage. */
export interface MessageFrame {
  type: 'msg';
  seq: number;
  /** The `id` that `POST /v1/messages` answered. */
  id: string;
  data: string;
}

/** Why a resume (or the catch-up of a paused socket) could not replay everything. */
export type ResumeFailure =
  /** Malformed, forged, from another tenant, ahead of the stream, or older than the socket's first connection. */
  | 'invalid_position'
  /** The position belongs to another socket id. */
  | 'other_socket'
  /** This connection has other tags than the one the position came from. */
  | 'tags_changed'
  /** The tenant's shard count changed and this socket id now lives on another shard. */
  | 'moved'
  /** History was lost since the position: the tenant was deleted and recreated, or recording stopped. */
  | 'epoch_changed'
  /** Messages after the position are no longer kept (older than the age limit, or past the count). */
  | 'history_trimmed';

/** Some messages cannot be replayed: reload your state. Live messages follow, after `seq`. */
export interface ResumeFailedFrame {
  type: 'resume_failed';
  reason: ResumeFailure;
  message: string;
  seq: number;
}

/** Sent by the client: every message up to `seq` was processed (cumulative). */
export interface AckFrame {
  type: 'ack';
  seq: number;
}

/** Every text frame the service sends on a mws.v2 connection (besides `pong`). */
export type ServerFrame = HelloFrame | MessageFrame | ResumeFailedFrame;

/** The `resume` query parameter: the last seq the client processed and the token of its last `hello`. */
export function resumeParam(seq: number, token: string): string {
  return `${seq}.${token}`;
}

/** First byte of a binary mws.v2 frame that carries a message. */
export const BINARY_MESSAGE_KIND = 0x01;

/**
 * A binary message on a mws.v2 connection: byte 0 is BINARY_MESSAGE_KIND, bytes 1-8 the seq (unsigned 64-bit,
 * big-endian), byte 9 the length n of the message id, bytes 10 to 10+n-1 the id (ASCII), then the message's bytes.
 */
export function encodeBinaryMessage(seq: number, id: string, bytes: Uint8Array): Uint8Array {
  const frame = new Uint8Array(10 + id.length + bytes.byteLength);
  frame[0] = BINARY_MESSAGE_KIND;
  new DataView(frame.buffer).setBigUint64(1, BigInt(seq));
  frame[9] = id.length;
  for (let i = 0; i < id.length; i++) frame[10 + i] = id.charCodeAt(i);
  frame.set(bytes, 10 + id.length);
  return frame;
}

/** The seq, id and bytes of a binary mws.v2 message frame, or null when it is not one. */
export function decodeBinaryMessage(frame: Uint8Array): { seq: number; id: string; bytes: Uint8Array } | null {
  if (frame.byteLength < 10 || frame[0] !== BINARY_MESSAGE_KIND) return null;
  const idLength = frame[9] as number;
  if (frame.byteLength < 10 + idLength) return null;
  const seq = Number(new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(1));
  let id = '';
  for (let i = 10; i < 10 + idLength; i++) id += String.fromCharCode(frame[i] as number);
  return { seq, id, bytes: frame.subarray(10 + idLength) };
}
