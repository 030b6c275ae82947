/**
 * What each hibernatable socket keeps across eviction (the platform allows 2 KiB): when it connected, and for a
 * mws.v2 socket whether it is paused and where. Raw sockets keep only the number. Ids and tags are hibernation tags.
 */
export type SocketAttachment = number | V2Attachment;

export interface V2Attachment {
  at: number;
  v2: true;
  /** While paused (over its window): the seq up to which everything for it was handled. */
  paused?: number;
}

export function connectedAtOf(attachment: SocketAttachment): number {
  return typeof attachment === 'number' ? attachment : attachment.at;
}
