/**
 * Keepalive rules, as pure functions. The platform cannot send protocol pings, so clients send the text `ping`
 * and the runtime answers `pong` without waking the object; the alarm closes sockets that pinged before
 * and then fell silent for STALE_AFTER_INTERVALS intervals. Sockets that never ping are never judged stale.
 */
export const STALE_AFTER_INTERVALS = 2;

/** True when a socket whose last `ping` was at `lastPingAt` (null: never pinged) should be closed at `now`. */
export function isStale(lastPingAt: Date | null, now: number, intervalMs: number): boolean {
  if (lastPingAt === null) return false;
  return now - lastPingAt.getTime() > STALE_AFTER_INTERVALS * intervalMs;
}

/**
 * When the next sweep is due, or null when nothing is left to watch (the alarm then stops). Stored history that
 * expires at `historyExpiresAt` keeps the alarm going too, at most once an interval, so an idle stream ages out.
 */
export function nextSweepAt(now: number, intervalMs: number, openSockets: number, pendingReservations: number, historyExpiresAt: number | null = null): number | null {
  const sweep = openSockets > 0 || pendingReservations > 0 ? now + intervalMs : null;
  const trim = historyExpiresAt === null ? null : Math.max(historyExpiresAt, now + intervalMs);
  if (sweep === null || trim === null) return sweep ?? trim;
  return Math.min(sweep, trim);
}
