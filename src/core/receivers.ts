import type { Receivers } from './validation';

/** Hibernation tags carry a kind prefix so a socket id can never collide with a user tag. */
export const SOCKET_ID_PREFIX = 'sid:';
export const USER_TAG_PREFIX = 'tag:';
export const socketIdTag = (id: string): string => SOCKET_ID_PREFIX + id;
export const userTag = (tag: string): string => USER_TAG_PREFIX + tag;

/** The hibernation tags for a socket: its id first, then its (already deduplicated) user tags. */
export function hibernationTags(id: string, tags: readonly string[]): string[] {
  return [socketIdTag(id), ...tags.map(userTag)];
}

/**
 * The sockets a message reaches: the union of `"*"` (all), the listed ids and the listed tags,
 * each socket once. `lookup(undefined)` returns every socket, `lookup(tag)` those with that hibernation tag.
 */
export function resolveReceivers<S>(receivers: Receivers, lookup: (tag?: string) => Iterable<S>): Iterable<S> {
  if (receivers.sockets?.includes('*')) return lookup();
  const ids = receivers.sockets ?? [];
  const tags = receivers.tags ?? [];
  // One selector cannot match a socket twice: skip the Set on the common fast paths.
  if (ids.length === 0 && tags.length === 1) return lookup(userTag(tags[0] as string));
  if (tags.length === 0 && ids.length === 1) return lookup(socketIdTag(ids[0] as string));
  const out = new Set<S>();
  for (const id of new Set(receivers.sockets ?? [])) for (const s of lookup(socketIdTag(id))) out.add(s);
  for (const tag of new Set(receivers.tags ?? [])) for (const s of lookup(userTag(tag))) out.add(s);
  return out;
}
