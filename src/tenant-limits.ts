import { MAX_SOCKETS_PER_TENANT } from './limits';

/** Per-tenant caps the operator sets through the admin API. */
export interface TenantLimits {
  /** Sustained pushes per second (bursts of twice that are allowed). */
  pushesPerSecond: number;
  /** Sustained WebSocket connection attempts per second (bursts of twice that). */
  connectsPerSecond: number;
  /** Connected sockets at once. */
  maxSockets: number;
}

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  pushesPerSecond: 1000,
  connectsPerSecond: 500,
  maxSockets: MAX_SOCKETS_PER_TENANT,
};

/** Allowed [min, max] of each limit. */
export const LIMIT_RANGES: Record<keyof TenantLimits, [number, number]> = {
  pushesPerSecond: [1, 100_000],
  connectsPerSecond: [1, 100_000],
  maxSockets: [1, MAX_SOCKETS_PER_TENANT],
};

/** Burst size for a sustained per-second rate. */
export const burstFor = (perSecond: number): number => perSecond * 2;
