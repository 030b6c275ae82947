import { decodeBinaryMessage, resumeParam, type HelloFrame, type ResumeFailure, type ServerFrame } from './protocol.js';

/** The client acknowledges once it has this fraction of the service's window (from `hello`) unacknowledged. */
export const ACK_EVERY_WINDOW_FRACTION = 1 / 4;

/** A message as the client hands it to the app. */
export interface StreamMessage {
  /** Text, or for binary messages their bytes decoded as UTF-8 (use `bytes` for the exact bytes). */
  data: string;
  bytes?: Uint8Array;
  /** The message id `POST /v1/messages` answered; mws.v2 only. */
  id?: string;
  seq?: number;
}

/** What one frame of a mws.v2 connection means to the client. */
export type StreamEvent =
  | { kind: 'message'; message: StreamMessage }
  | { kind: 'hello'; resumed: boolean | null }
  | { kind: 'recoveryFailed'; reason: ResumeFailure; message: string }
  | { kind: 'none' };

/**
 * The client side of a mws.v2 stream, across connections: the position (epoch and last seq processed) and the token
 * to resume with, duplicates dropped, and a cumulative ack each time a quarter of the window was received since the
 * last one: the service pauses a socket only past a whole window, and a slow trickle costs no acks at all.
 */
export class V2Stream {
  private epoch: string | null = null;
  private seq = 0;
  private token: string | null = null;
  private ackEveryBytes = Number.POSITIVE_INFINITY;
  private unackedBytes = 0;

  /** The `resume` query parameter for the next connection, or null before the first hello. */
  resumeParam(): string | null {
    return this.token === null ? null : resumeParam(this.seq, this.token);
  }

  /** Reads a text frame. Anything that is not a frame of this protocol is ignored. */
  onText(text: string, sendAck: (frame: string) => void): StreamEvent {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return { kind: 'none' };
    }
    if (frame.type === 'hello') return this.onHello(frame);
    if (frame.type === 'resume_failed') {
      // Live messages follow from here; acking this position frees what the service counted before the gap.
      this.seq = frame.seq;
      this.ack(sendAck);
      return { kind: 'recoveryFailed', reason: frame.reason, message: frame.message };
    }
    if (frame.type === 'msg') return this.onMessage(frame.seq, text.length, { data: frame.data, id: frame.id, seq: frame.seq }, sendAck);
    return { kind: 'none' };
  }

  onBinary(bytes: Uint8Array, sendAck: (frame: string) => void): StreamEvent {
    const decoded = decodeBinaryMessage(bytes);
    if (decoded === null) return { kind: 'none' };
    const copy = decoded.bytes.slice();
    return this.onMessage(decoded.seq, bytes.byteLength, { data: new TextDecoder().decode(copy), bytes: copy, id: decoded.id, seq: decoded.seq }, sendAck);
  }

  private onHello(hello: HelloFrame): StreamEvent {
    // A new epoch (or the first hello) starts the position afresh; a resumed one continues from where we were.
    if (hello.epoch !== this.epoch || hello.resumed !== true) this.seq = hello.seq;
    this.epoch = hello.epoch;
    this.token = hello.resume;
    // Each connection has its own window at the service.
    this.ackEveryBytes = Math.max(1, Math.floor(hello.window * ACK_EVERY_WINDOW_FRACTION));
    this.unackedBytes = 0;
    return { kind: 'hello', resumed: hello.resumed ?? null };
  }

  /** `frameSize` counts as the service counts: characters of a text frame, bytes of a binary one. */
  private onMessage(seq: number, frameSize: number, message: StreamMessage, sendAck: (frame: string) => void): StreamEvent {
    if (seq <= this.seq) return { kind: 'none' };
    this.seq = seq;
    this.unackedBytes += frameSize;
    if (this.unackedBytes >= this.ackEveryBytes) this.ack(sendAck);
    return { kind: 'message', message };
  }

  private ack(sendAck: (frame: string) => void): void {
    this.unackedBytes = 0;
    sendAck(JSON.stringify({ type: 'ack', seq: this.seq }));
  }
}
