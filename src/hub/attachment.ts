import type { ClosedBy } from '../core/webhook-events';

/**
 * Kept on each hibernatable socket and survives eviction (the platform allows 2 KiB): when it connected (epoch ms), as
 * a bare number for most raw sockets; with the token's user (jwt mode), once the service closes it who closed it (so
 * its departure is reported once), and for a mws.v2 socket whether it is paused and where. Its id and tags are its
 * hibernation tags already (`ctx.getTags`).
 */
export type SocketAttachment = number | SocketDetails;

export interface SocketDetails {
  at: number;
  user?: string;
  closedBy?: ClosedBy;
  /** The socket speaks mws.v2. */
  v2?: true;
  /** mws.v2, while paused (over its window): the seq up to which everything for it was handled. */
  paused?: number;
}
