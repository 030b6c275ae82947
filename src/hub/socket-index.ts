import type { SocketInfo } from '../../sdk/src/protocol';
import { SOCKET_ID_PREFIX, socketIdTag, USER_TAG_PREFIX, userTag } from '../core/receivers';
import type { ClosedBy } from '../core/webhook-events';
import type { SocketAttachment } from './attachment';

/** A socket as events describe it; `closedBy` is set once the service has closed it. */
export interface SocketSnapshot {
  ws: WebSocket | null;
  id: string;
  tags: string[];
  user: string | null;
  connectedAt: number;
  closedBy?: ClosedBy;
}

/** The sockets of one object as the runtime's tag index finds them, and how events and the API describe each. */
export class SocketIndex {
  constructor(protected readonly ctx: DurableObjectState) {}

  /** Open sockets, all or those with a hibernation tag. */
  open(tag?: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Up to `limit` open sockets (with `tag`, when given) with ids after `after`, in id order. */
  list(after: string, limit: number, tag?: string): SocketInfo[] {
    return this.open(tag === undefined ? undefined : userTag(tag))
      .map((ws) => this.info(ws))
      .filter((s) => s.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
  }

  get(id: string): SocketInfo | null {
    const ws = this.open(socketIdTag(id))[0];
    return ws === undefined ? null : this.info(ws);
  }

  openCount(): number {
    return this.open().length;
  }

  /** Open sockets with each tag, from the runtime's tag index. */
  countTags(tags: readonly string[]): number[] {
    return tags.map((tag) => this.open(userTag(tag)).length);
  }

  /** The ids of the open sockets. */
  openIds(): string[] {
    return this.open().map((ws) => this.info(ws).id);
  }

  /** A socket as the API shows it: id and tags from its hibernation tags, connectedAt from its attachment. */
  private info(ws: WebSocket): SocketInfo {
    const { id, tags, connectedAt } = this.snapshot(ws);
    return { id, connectedAt: new Date(connectedAt).toISOString(), tags };
  }

  snapshot(ws: WebSocket): SocketSnapshot {
    let id = '';
    const tags: string[] = [];
    for (const tag of this.ctx.getTags(ws)) {
      if (tag.startsWith(SOCKET_ID_PREFIX)) id = tag.slice(SOCKET_ID_PREFIX.length);
      else if (tag.startsWith(USER_TAG_PREFIX)) tags.push(tag.slice(USER_TAG_PREFIX.length));
    }
    const attachment = ws.deserializeAttachment() as SocketAttachment;
    if (typeof attachment === 'number') return { ws, id, tags, user: null, connectedAt: attachment };
    return { ws, id, tags, user: attachment.user ?? null, connectedAt: attachment.at, ...(attachment.closedBy ? { closedBy: attachment.closedBy } : {}) };
  }
}
