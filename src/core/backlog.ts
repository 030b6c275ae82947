/**
 * Backlog rules, as pure functions. A send never blocks and the runtime shows no `bufferedAmount`
 * (https://github.com/cloudflare/workerd/issues/988), so what a client does not read waits in the object's memory.
 * The object therefore estimates each socket's backlog: bytes sent count until the client shows it read them.
 *
 * - A `ping` shows it: the runtime answers pings in order with the pushed frames, and while a socket's outgoing
 *   stream is stuck it stops reading that socket's pings, so their timestamp stops moving (measured on workerd
 *   1.20261102.1). A newer ping timestamp clears the backlog.
 * - Between pings (and for clients that never ping), a client is assumed to read at least
 *   ASSUMED_DRAIN_BYTES_PER_SECOND: the backlog drains by that much per second (a leaky bucket).
 */

/** Bytes a socket holds after `elapsedMs` of draining at `drainPerMs` and `bytes` more sent. */
export function backlogAfter(backlog: number, elapsedMs: number, drainPerMs: number, bytes: number): number {
  const drained = backlog - elapsedMs * drainPerMs;
  return (drained > 0 ? drained : 0) + bytes;
}

/**
 * Which of `backlogs` to close, largest first, so that `total` falls within `budget`. Backlogs at or below
 * `floor` are never chosen, so the answer may leave the total over budget. Returns indexes into `backlogs`.
 */
export function sheddingOrder(backlogs: readonly number[], total: number, budget: number, floor: number): number[] {
  const order = backlogs.map((_, i) => i).sort((a, b) => (backlogs[b] as number) - (backlogs[a] as number));
  const shed: number[] = [];
  let left = total;
  for (const i of order) {
    const backlog = backlogs[i] as number;
    if (left <= budget || backlog <= floor) break;
    shed.push(i);
    left -= backlog;
  }
  return shed;
}
