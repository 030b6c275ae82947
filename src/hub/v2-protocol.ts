import type { HelloFrame, ResumeFailedFrame } from '../../sdk/src/protocol';
import { parseClientFrame } from '../core/frames';
import { resumeVerdict, RESUME_FAILURE_MESSAGES, type ClaimedPosition, type ResumeFailure } from '../core/history-rules';
import { V2_CLIENT_FRAMES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, V2_WINDOW_BYTES } from '../core/limits';
import { parseResumeParam, peekPosition, signPosition, tagsDigest, verifyPosition } from '../core/positions';
import { countInWindow, type Window } from '../core/rate-limit';
import { CloseCode, closeQuietly } from '../core/close-codes';
import type { Grant } from './connect-tokens';
import type { FlowControl } from './flow-control';
import type { History } from './history';
import type { Sockets } from './sockets';

type Claim = { position: ClaimedPosition } | { ok: false; reason: ResumeFailure; epoch?: string };

/** An unverifiable position from an earlier epoch says so; anything else unverifiable is invalid. */
function failure(claim: { reason: ResumeFailure; epoch?: string }, epoch: string): { ok: false; reason: ResumeFailure } {
  return { ok: false, reason: claim.epoch !== undefined && claim.epoch !== epoch ? 'epoch_changed' : claim.reason };
}

/**
 * The mws.v2 subprotocol: the `hello` that opens each connection, resume (replay of what a socket missed, or a
 * `resume_failed` frame saying why not), and the client's acks. Delivery and pausing are FlowControl's.
 */
export class V2Protocol {
  private readonly frameWindows = new WeakMap<WebSocket, Window>();

  constructor(
    private readonly sockets: Sockets,
    private readonly history: History,
    private readonly flow: FlowControl,
  ) {}

  /**
   * Accepts a mws.v2 socket for `grant`, resuming from `resume` (`<seq>.<token>`) when given. Token work is done
   * first; accept, hello and replay then run without awaiting, so no push can fall between replay and live.
   */
  async open(grant: Grant, resume: string | null, tenant: string, shard: number): Promise<WebSocket | null> {
    const now = Date.now();
    const started = this.history.startForV2(now);
    const key = await this.history.signingKey();
    const digest = await tagsDigest(grant.tags);
    const claim = resume === null ? null : await this.checkResume(key, resume, grant.id, digest, tenant, shard);
    const from = claim !== null && 'position' in claim ? claim.position.from : started.head;
    const token = await signPosition(key, { tenant, shard, epoch: started.epoch, id: grant.id, tags: digest, from });

    const stream = this.history.startForV2(Date.now());
    const accepted = this.sockets.accept(grant.id, grant.tags, grant.user, { v2: true, onReplaced: (older) => this.onGone(older) });
    if (accepted === null) return null;
    const { client, server } = accepted;
    const state = this.flow.adopt(server, grant.id, grant.tags, now);
    const verdict = claim === null ? null : 'position' in claim ? resumeVerdict(claim.position, stream) : failure(claim, stream.epoch);
    const hello: HelloFrame = {
      type: 'hello',
      socket: grant.id,
      epoch: stream.epoch,
      seq: verdict?.ok === true ? verdict.after : stream.head,
      resume: token,
      window: V2_WINDOW_BYTES,
      ...(verdict === null ? {} : { resumed: verdict.ok }),
    };
    server.send(JSON.stringify(hello));
    if (verdict !== null && !verdict.ok) {
      const failed: ResumeFailedFrame = { type: 'resume_failed', reason: verdict.reason, message: RESUME_FAILURE_MESSAGES[verdict.reason], seq: stream.head };
      server.send(JSON.stringify(failed));
    }
    if (verdict?.ok === true) {
      state.paused = true;
      state.cursor = verdict.after;
      this.flow.catchUp(server, state);
    }
    return client;
  }

  /**
   * A frame from a client: an ack of a mws.v2 socket is this protocol's (at most V2_CLIENT_FRAMES_PER_WINDOW per window,
   * then 1008). Returns false for anything else, which is then a client message as on a raw socket (ignored, or
   * forwarded with `clientMessages: "webhook"`).
   */
  onMessage(ws: WebSocket, message: string | ArrayBuffer): boolean {
    const state = this.flow.stateOf(ws);
    const frame = state === null || typeof message !== 'string' ? null : parseClientFrame(message);
    if (state === null || frame === null) return false;
    const counted = countInWindow(this.frameWindows.get(ws), V2_CLIENT_FRAMES_PER_WINDOW, CLIENT_MESSAGE_WINDOW_MS, Date.now());
    this.frameWindows.set(ws, counted.window);
    if (counted.exceeded) closeQuietly(ws, CloseCode.POLICY_VIOLATION, 'policy violation: too many acks; ack once per quarter window');
    else this.flow.ack(ws, state, frame.seq);
    return true;
  }

  /** A socket closed or failed: if it spoke mws.v2, keep history long enough for it to resume. */
  onGone(ws: WebSocket): void {
    if (this.flow.stateOf(ws) !== null) this.history.renewLease(Date.now());
  }

  /** Authenticates a presented position; a failure names why, before the stream itself is consulted. */
  private async checkResume(key: CryptoKey, resume: string, id: string, digest: string, tenant: string, shard: number): Promise<Claim> {
    const fail = (reason: ResumeFailure) => ({ ok: false as const, reason });
    const parsed = parseResumeParam(resume);
    const peeked = parsed === null ? null : peekPosition(parsed.token);
    if (parsed === null || peeked === null || peeked.tenant !== tenant) return fail('invalid_position');
    if (peeked.shard !== shard) return fail('moved');
    const claims = await verifyPosition(key, parsed.token);
    // Signed by another key: this shard's earlier life (the tenant was deleted and recreated) or a forgery.
    if (claims === null) return { ok: false, reason: 'invalid_position', epoch: peeked.epoch };
    if (claims.id !== id) return fail('other_socket');
    if (claims.tags !== digest) return fail('tags_changed');
    return { position: { epoch: claims.epoch, seq: parsed.seq, from: claims.from } };
  }
}
