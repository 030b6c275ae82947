import { decodeBinaryMessage, resumeParam, type HelloFrame, type ResumeFailure, type ServerFrame } from './protocol.js';

export const DEFAULT_ACK_INTERVAL_MS = 100;

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
 * to resume with, duplicates dropped, and cumulative acks at most every `ackIntervalMs`.
 */
export class V2Stream {
  private epoch: string | null = null;
  private seq = 0;
  private token: string | null = null;
  private acked = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ackIntervalMs: number = DEFAULT_ACK_INTERVAL_MS) {}

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
      this.scheduleAck(sendAck);
      return { kind: 'recoveryFailed', reason: frame.reason, message: frame.message };
    }
    if (frame.type === 'msg') return this.onMessage(frame.seq, { data: frame.data, id: frame.id, seq: frame.seq }, sendAck);
    return { kind: 'none' };
  }

  onBinary(bytes: Uint8Array, sendAck: (frame: string) => void): StreamEvent {
    const decoded = decodeBinaryMessage(bytes);
    if (decoded === null) return { kind: 'none' };
    const copy = decoded.bytes.slice();
    return this.onMessage(decoded.seq, { data: new TextDecoder().decode(copy), bytes: copy, id: decoded.id, seq: decoded.seq }, sendAck);
  }

  /** The connection ended: acks for it are moot. */
  detach(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private onHello(hello: HelloFrame): StreamEvent {
    this.detach();
    // A new epoch (or the first hello) starts the position afresh; a resumed one continues from where we were.
    if (hello.epoch !== this.epoch || hello.resumed !== true) this.seq = hello.seq;
    this.acked = this.seq;
    this.epoch = hello.epoch;
    this.token = hello.resume;
    return { kind: 'hello', resumed: hello.resumed ?? null };
  }

  private onMessage(seq: number, message: StreamMessage, sendAck: (frame: string) => void): StreamEvent {
    if (seq <= this.seq) return { kind: 'none' };
    this.seq = seq;
    this.scheduleAck(sendAck);
    return { kind: 'message', message };
  }

  /** One cumulative ack of the newest position, at most every ackIntervalMs, while messages keep coming. */
  private scheduleAck(sendAck: (frame: string) => void): void {
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      if (this.seq > this.acked) {
        this.acked = this.seq;
        sendAck(JSON.stringify({ type: 'ack', seq: this.seq }));
      }
    }, this.ackIntervalMs);
  }
}
