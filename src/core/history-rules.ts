import { HISTORY_MODES, type HistoryMode, type HistorySettings, type ResumeFailure } from '../../sdk/src/protocol';
import type { FieldErrors } from './fields';
import { DEFAULT_HISTORY_MAX_AGE_SECONDS, DEFAULT_HISTORY_MAX_MESSAGES, HISTORY_TRIM_SLACK_FRACTION, HISTORY_TRIM_SLACK_MIN, type TenantLimits } from './limits';
import type { Receivers } from './validation';

export { HISTORY_MODES, type HistoryMode, type HistorySettings, type ResumeFailure } from '../../sdk/src/protocol';

/**
 * History as pure rules: what a tenant keeps, which stored message a socket would have received, when to trim,
 * and whether a resume position can be honoured. Every shard of a tenant keeps its own stream of positions.
 */

/** What a shard applies: the tenant's settings within the operator's caps, and the byte cap. */
export interface HistoryPolicy extends HistorySettings {
  maxBytes: number;
}

export const DEFAULT_HISTORY_SETTINGS: HistorySettings = {
  mode: 'auto',
  maxAgeSeconds: DEFAULT_HISTORY_MAX_AGE_SECONDS,
  maxMessages: DEFAULT_HISTORY_MAX_MESSAGES,
};

/** The tenant's settings (defaults for what it did not set), each within the operator's cap. */
export function historyPolicy(settings: Partial<HistorySettings> | undefined, limits: TenantLimits): HistoryPolicy {
  const s = { ...DEFAULT_HISTORY_SETTINGS, ...settings };
  return {
    mode: s.mode,
    maxAgeSeconds: Math.min(s.maxAgeSeconds, limits.historyMaxAgeSeconds),
    maxMessages: Math.min(s.maxMessages, limits.historyMaxMessages),
    maxBytes: limits.historyMaxBytes,
  };
}

/** True when a message sent to `receivers` reached the socket with this id and these (user) tags. */
export function reaches(receivers: Receivers, id: string, tags: readonly string[]): boolean {
  if (receivers.sockets !== null && (receivers.sockets.includes('*') || receivers.sockets.includes(id))) return true;
  return receivers.tags !== null && receivers.tags.some((t) => tags.includes(t));
}

/** What a stream knows about itself: its epoch, its newest position, and the newest position it no longer holds. */
export interface StreamState {
  epoch: string;
  head: number;
  trimmedThrough: number;
}

/** The extent of stored history, for deciding when to trim. */
export interface StoredExtent {
  rows: number;
  bytes: number;
  /** `at` of the oldest stored message (ms), or null when none is stored. */
  oldestAt: number | null;
}

/** Batch size for trims: a fraction of the limit, at least HISTORY_TRIM_SLACK_MIN. */
export function trimSlack(limit: number): number {
  return Math.max(HISTORY_TRIM_SLACK_MIN, Math.ceil(limit * HISTORY_TRIM_SLACK_FRACTION));
}

/**
 * Whether stored history has outgrown the policy enough to trim now: by count or bytes past the limit plus a batch,
 * or by age past the limit plus a fraction of it. Trimming then cuts back to the limits themselves.
 */
export function trimDue(extent: StoredExtent, policy: HistoryPolicy, now: number): boolean {
  if (extent.rows > policy.maxMessages + trimSlack(policy.maxMessages)) return true;
  if (extent.bytes > policy.maxBytes) return true;
  const maxAgeMs = policy.maxAgeSeconds * 1000;
  return extent.oldestAt !== null && extent.oldestAt < now - maxAgeMs - maxAgeMs * HISTORY_TRIM_SLACK_FRACTION;
}

/** A position a client presents, already authenticated (see core/positions.ts). */
export interface ClaimedPosition {
  epoch: string;
  seq: number;
  /** The lowest seq this socket may resume from: where its first connection began. */
  from: number;
}

/** Whether a stream can replay what followed `position`: `after` is then the seq the replay starts after. */
export function resumeVerdict(position: ClaimedPosition, stream: StreamState): { ok: true; after: number } | { ok: false; reason: ResumeFailure } {
  if (position.epoch !== stream.epoch) return { ok: false, reason: 'epoch_changed' };
  if (position.seq < position.from || position.seq > stream.head) return { ok: false, reason: 'invalid_position' };
  if (position.seq < stream.trimmedThrough) return { ok: false, reason: 'history_trimmed' };
  return { ok: true, after: position.seq };
}

export const RESUME_FAILURE_MESSAGES: Record<ResumeFailure, string> = {
  invalid_position: 'The resume position is not one this stream issued; live messages follow.',
  other_socket: 'The resume position belongs to another socket id; live messages follow.',
  tags_changed: 'This connection has other tags than the one the position came from; live messages follow.',
  moved: "The tenant's shard count changed and this socket id now lives on another shard; live messages follow.",
  epoch_changed: 'History was lost since this position (new epoch); reload your state, live messages follow.',
  history_trimmed: 'Messages after this position are no longer kept; reload your state, live messages follow.',
};

/** `history`: any of `mode`, `maxAgeSeconds`, `maxMessages`; the operator's caps are checked by the tenant's object. */
export function parseHistorySettings(errors: FieldErrors, value: unknown): Partial<HistorySettings> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.add('invalid_type', 'history', 'history must be an object: {"mode"?, "maxAgeSeconds"?, "maxMessages"?}.');
    return {};
  }
  const v = value as Record<string, unknown>;
  const out: Partial<HistorySettings> = {};
  for (const key of Object.keys(v)) {
    if (!['mode', 'maxAgeSeconds', 'maxMessages'].includes(key)) errors.add('invalid_value', `history.${key}`, `history.${key} is not a history setting.`);
  }
  if (v.mode !== undefined) {
    if (typeof v.mode === 'string' && (HISTORY_MODES as readonly string[]).includes(v.mode)) out.mode = v.mode as HistoryMode;
    else errors.add('invalid_value', 'history.mode', `history.mode must be one of ${HISTORY_MODES.map((m) => `"${m}"`).join(', ')}.`);
  }
  for (const key of ['maxAgeSeconds', 'maxMessages'] as const) {
    const n = v[key];
    if (n === undefined) continue;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1) out[key] = n;
    else errors.add('invalid_value', `history.${key}`, `history.${key} must be a whole number of at least 1.`);
  }
  return out;
}
