/** Close codes the MWS service sends (the same table as the service's README). */
export const CloseCode = {
  /** The tenant was deleted. Never reconnect. */
  TENANT_DELETED: 4000,
  /** A backend called DELETE /v1/sockets/{id}. Never reconnect. */
  REMOVED: 4001,
  /** The socket sent no `ping` for two keepalive intervals. Reconnect. */
  KEEPALIVE_TIMEOUT: 4002,
  /** A newer connection took this socket id. Never reconnect (the newer one would be kicked out in turn). */
  REPLACED: 4003,
  /** The client did not read what it was sent: its backlog passed the service's budget. Reconnect (v2 resumes). */
  SLOW_CLIENT: 4008,
  /** The connect token was missing, unknown, already used or expired. Reconnect only with a fresh uri. */
  INVALID_TOKEN: 4401,
  /** The tenant does not exist. Never reconnect. */
  TENANT_NOT_FOUND: 4404,
  /**
   * The client sent more than `ping`s (raw mode: its socket only receives), or, with `clientMessages: "webhook"`,
   * more messages than the flood limit allows. Fix the client before reconnecting.
   */
  POLICY_VIOLATION: 1008,
  /** With `clientMessages: "webhook"`: the client sent a frame over 8192 bytes. Fix the client before reconnecting. */
  MESSAGE_TOO_BIG: 1009,
  /** A send to the socket failed and the server dropped it. Reconnect. */
  SEND_FAILED: 1011,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes the client itself uses (3000-3999 is the range for libraries). */
export const ClientCloseCode = {
  /** The client closed the socket because no `pong` answered its `ping` in time. It reconnects. */
  PONG_TIMEOUT: 3000,
  /** `close()` was called. */
  NORMAL: 1000,
} as const;

/** The keepalive: a client sends this text frame, the service answers KEEPALIVE_PONG. */
export const KEEPALIVE_PING = 'ping';
export const KEEPALIVE_PONG = 'pong';
/**
 * A raw client shows the service it reads by sending KEEPALIVE_PING after about this many bytes received: the service
 * closes raw sockets (4008) that were sent much more than it saw them read, assuming 512 KiB/s between pings.
 */
export const KEEPALIVE_PING_EVERY_BYTES = 256 * 1024;
