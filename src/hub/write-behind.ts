import { WRITE_BEHIND_MS } from '../core/limits';

/**
 * Storage writes that may trail the replies they belong to by WRITE_BEHIND_MS (spent connect tokens, socket events),
 * run together in one event of their own. Writes made in one event are committed together, and on workerd a commit
 * costs about as much as forty rows (locally ~170 µs of CPU against ~4 µs a row), so a burst of connects pays for one
 * commit per batch instead of one per connect and per kind of write. A reply never waits for these writes: a write
 * holds every response of its own event until it is durable
 * (https://developers.cloudflare.com/durable-objects/reference/in-memory-state/).
 */
export class WriteBehind {
  private readonly due = new Set<() => void>();

  /** Runs `write` in the next batch, once however often it is asked; each write handles its own failure. */
  schedule(write: () => void): void {
    if (this.due.size === 0) setTimeout(() => this.run(), WRITE_BEHIND_MS);
    this.due.add(write);
  }

  private run(): void {
    const writes = [...this.due];
    this.due.clear();
    for (const write of writes) write();
  }
}
