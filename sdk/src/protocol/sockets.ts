// ---- Sockets ----

/** `POST /v1/sockets`. Both keys may be left out (an empty body is `{}`): `id` then counts as null, `tags` as []. */
export interface SocketRequest {
  /** The socket id; null lets the service pick a UUID. Reusing a connected id replaces that socket (closed with 4003). */
  id: string | null;
  /** Up to 9 distinct tags of at most 252 bytes of UTF-8 each; duplicates are removed (at most 100 entries). */
  tags: string[];
}

/** `201` answer of `POST /v1/sockets`: a reserved socket and its single-use connect uri. */
export interface SocketUri {
  id: string;
  /** `ws://` or `wss://`, on the host (and gateway prefix) the backend called; works once, before `expiresAt`. */
  uri: string;
  expiresAt: string;
  tags: string[];
}

/** `200` answer of `GET /v1/websocket_uri`: the original server's keys, a connect uri for an untagged socket. */
export interface WebsocketUri {
  uri: string;
  expiresAt: string;
  tags: string[];
}

/** A connected socket: `GET /v1/sockets/{id}` and each item of `GET /v1/sockets`. */
export interface SocketInfo {
  id: string;
  connectedAt: string;
  tags: string[];
}

/** Query of `GET /v1/sockets`: `limit` 1 to 1000 (default 1000), `cursor` from the previous page. */
export interface SocketListQuery {
  limit?: number;
  cursor?: string | null;
}

/** `200` answer of `GET /v1/sockets`: one page, and the cursor of the next (null on the last page). */
export interface SocketPage {
  results: SocketInfo[];
  cursor: string | null;
}

/** The largest and default page size of `GET /v1/sockets`. */
export const MAX_SOCKET_PAGE_SIZE = 1000;

// ---- Presence ----

/** `200` answer of `GET /v1/tags/{tag}?limit=&cursor=`: sockets with the tag on every shard, and one page of them. */
export interface TagPresence extends SocketPage {
  tag: string;
  count: number;
}

/** `200` answer of `GET /v1/presence?tags=a,b,c`: connected sockets per tag. */
export interface PresenceCounts {
  tags: Record<string, number>;
}

/** Tags in one `GET /v1/presence` call. */
export const MAX_PRESENCE_TAGS = 100;
