/**
 * Bytes sent to one mws.v2 socket and not yet acknowledged, the backpressure the runtime does not give (a send
 * never blocks and there is no bufferedAmount: https://github.com/cloudflare/workerd/issues/988).
 * Sends are kept as at most CHUNKS_PER_WINDOW chunks (consecutive small sends share one), so memory stays bounded
 * whatever the message size; an ack inside a chunk keeps the whole chunk counted until a later ack passes it.
 */
const CHUNKS_PER_WINDOW = 64;

export class FlowWindow {
  private readonly chunks: { seq: number; bytes: number }[] = [];
  private total = 0;

  constructor(readonly limitBytes: number) {}

  get unackedBytes(): number {
    return this.total;
  }

  /** True while more may be sent. A single message larger than the window still goes when nothing is pending. */
  hasRoom(): boolean {
    return this.total < this.limitBytes;
  }

  /** True when the socket has caught up enough to resume sending after a pause (half the window is free). */
  hasHalfRoom(): boolean {
    return this.total <= this.limitBytes / 2;
  }

  sent(seq: number, bytes: number): void {
    this.total += bytes;
    const last = this.chunks[this.chunks.length - 1];
    if (last !== undefined && last.bytes < this.limitBytes / CHUNKS_PER_WINDOW) {
      last.seq = seq;
      last.bytes += bytes;
    } else {
      this.chunks.push({ seq, bytes });
    }
  }

  /** Everything up to `seq` was processed by the client. */
  ack(seq: number): void {
    let drop = 0;
    while (drop < this.chunks.length && (this.chunks[drop] as { seq: number }).seq <= seq) {
      this.total -= (this.chunks[drop] as { bytes: number }).bytes;
      drop++;
    }
    if (drop > 0) this.chunks.splice(0, drop);
  }
}
