import { FlowWindow } from '../core/flow-window';
import type { ResumeFailedFrame } from '../../sdk/src/protocol';
import { messageFrame } from '../core/frames';
import { reaches, RESUME_FAILURE_MESSAGES } from '../core/history-rules';
import { REPLAY_BATCH_ROWS, V2_WINDOW_BYTES } from '../core/limits';
import type { SocketAttachment, SocketDetails } from './attachment';
import { CloseCode, closeQuietly } from '../core/close-codes';
import type { History, StoredMessage } from './history';
import type { Sockets, V2Sender } from './sockets';

/** A mws.v2 socket as delivery sees it: who it is, its window, and while paused, how far it was served. */
export interface V2Socket {
  id: string;
  tags: string[];
  connectedAt: number;
  window: FlowWindow;
  paused: boolean;
  /** While paused: every message up to this seq was sent to it or did not concern it. */
  cursor: number;
}

/**
 * A socket's mws.v2 state lives on the socket object under a symbol, as Backlogs' tally does (a WeakMap keyed by the
 * runtime's WebSocket objects is slow on workerd, see backlogs.ts), and is read on every send while mws.v2 sockets are
 * here. Absent: not looked at in this life of the object; null: a raw socket.
 */
const V2_STATE = Symbol('mws.v2 state');
type WithState = WebSocket & { [V2_STATE]?: V2Socket | null };

/**
 * Delivery and backpressure for mws.v2 sockets. Each socket may have V2_WINDOW_BYTES sent and not acknowledged;
 * past that it is paused (nothing more is sent; its messages stay in history) and, once it acknowledges half the
 * window, served again from history in order. A resume is the same catch-up, from the client's position. Everything
 * here is synchronous, so no push can slip between a catch-up and live delivery.
 */
export class FlowControl {
  /** A scan found no mws.v2 socket here and none was accepted since. */
  private absent = false;

  constructor(
    private readonly sockets: Sockets,
    private readonly history: History,
    private readonly where: () => string,
  ) {}

  /** The mws.v2 state of a socket, or null for a raw one; read from its attachment the first time in this life. */
  stateOf(ws: WebSocket): V2Socket | null {
    const holder = ws as WithState;
    let state = holder[V2_STATE];
    if (state === undefined) {
      const attachment = ws.deserializeAttachment() as SocketAttachment;
      state = typeof attachment === 'number' || attachment.v2 !== true ? null : this.restore(ws, attachment);
      holder[V2_STATE] = state;
    }
    return state;
  }

  /** Starts tracking a socket just accepted as mws.v2. */
  adopt(ws: WebSocket, id: string, tags: string[], connectedAt: number): V2Socket {
    const state: V2Socket = { id, tags, connectedAt, window: new FlowWindow(V2_WINDOW_BYTES), paused: false, cursor: 0 };
    (ws as WithState)[V2_STATE] = state;
    this.absent = false;
    return state;
  }

  /** True when some open socket here speaks mws.v2 (a scan, remembered while none is accepted). */
  anyOpen(): boolean {
    if (this.absent) return false;
    const found = this.sockets.open().some((ws) => this.stateOf(ws) !== null);
    this.absent = !found;
    return found;
  }

  /** How live delivery reaches mws.v2 sockets for a message history recorded (or did not: then none may be here). */
  liveSender(message: StoredMessage | null): V2Sender | null {
    if (this.absent) return null;
    return (ws) => {
      const state = this.stateOf(ws);
      if (state === null) return undefined;
      if (message === null) {
        // Cannot happen while a mws.v2 socket keeps history recording; closing beats a silent gap.
        closeQuietly(ws, CloseCode.SEND_FAILED, 'history is not recording; reconnect to resume');
        return false;
      }
      // A paused socket gets the message from history once it is served again: it counts as sent while it is open.
      return state.paused ? ws.readyState === WebSocket.OPEN : this.send(ws, state, message) !== 'failed';
    };
  }

  /** Serves a paused socket from history after its cursor, until its window is full or it reached the head. */
  catchUp(ws: WebSocket, state: V2Socket): void {
    const stream = this.history.state();
    if (stream === null || state.cursor < stream.trimmedThrough) {
      const reason = stream === null ? 'epoch_changed' : 'history_trimmed';
      const head = stream?.head ?? state.cursor;
      const frame: ResumeFailedFrame = { type: 'resume_failed', reason, message: RESUME_FAILURE_MESSAGES[reason], seq: head };
      this.trySend(ws, JSON.stringify(frame));
      this.setPaused(ws, state, false, head);
      return;
    }
    while (state.window.hasRoom() && ws.readyState === WebSocket.OPEN) {
      const batch = this.history.read(state.cursor, REPLAY_BATCH_ROWS);
      if (batch.length === 0) return this.setPaused(ws, state, false, state.cursor);
      for (const message of batch) {
        state.cursor = message.seq;
        if (reaches(message.receivers, state.id, state.tags) && this.send(ws, state, message) !== 'sent') break;
      }
    }
    this.setPaused(ws, state, true, state.cursor);
  }

  /** The client processed everything up to `seq`; a paused socket with half its window free is served again. */
  ack(ws: WebSocket, state: V2Socket, seq: number): void {
    state.window.ack(seq);
    if (state.paused && state.window.hasHalfRoom()) this.catchUp(ws, state);
  }

  /** Sends one message: 'full' when it filled the window (the socket is then paused at it), 'failed' when not sent. */
  private send(ws: WebSocket, state: V2Socket, message: StoredMessage): 'sent' | 'full' | 'failed' {
    message.frame ??= messageFrame(message.seq, message.id, message.data);
    if (!this.trySend(ws, message.frame)) return 'failed';
    state.window.sent(message.seq, typeof message.frame === 'string' ? message.frame.length : message.frame.byteLength);
    if (state.window.hasRoom()) return 'sent';
    this.setPaused(ws, state, true, message.seq);
    return 'full';
  }

  private setPaused(ws: WebSocket, state: V2Socket, paused: boolean, cursor: number): void {
    const changed = state.paused !== paused || (paused && state.cursor !== cursor);
    state.paused = paused;
    state.cursor = cursor;
    if (!changed) return;
    const { paused: _was, ...rest } = ws.deserializeAttachment() as SocketDetails;
    ws.serializeAttachment({ ...rest, ...(paused ? { paused: cursor } : {}) } satisfies SocketDetails);
  }

  private restore(ws: WebSocket, attachment: SocketDetails): V2Socket {
    const { id, tags } = this.sockets.snapshot(ws);
    return { id, tags, connectedAt: attachment.at, window: new FlowWindow(V2_WINDOW_BYTES), paused: attachment.paused !== undefined, cursor: attachment.paused ?? 0 };
  }

  /** Sends a frame; false when the socket refused it. `readyState` is read only then: it is slow on workerd. */
  private trySend(ws: WebSocket, frame: string | Uint8Array): boolean {
    try {
      ws.send(frame);
      return true;
    } catch (err) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      console.warn(`send failed; closing socket (${this.where()})`, String(err));
      closeQuietly(ws, CloseCode.SEND_FAILED, 'send failed');
      return false;
    }
  }
}
