/** REST shapes of the MWS tenant API, exactly as the service sends and accepts them. */

export interface Receivers {
  /** Socket ids, or ["*"] for every connected socket; null or absent for none by id. */
  sockets?: string[] | null;
  /** Tags; a socket receives the message if it has any of them. */
  tags?: string[] | null;
}

export interface PushResult {
  id: string;
  data: string;
  receivers: { sockets: string[] | null; tags: string[] | null };
  /** How many sockets the message was sent to. */
  sent: number;
}

export interface SocketRequest {
  tags?: string[];
  /** Reuse an id to replace an older connection with this id (it is closed with 4003). */
  id?: string;
}

export interface SocketUri {
  id: string;
  /** Single-use connect uri (ws:// or wss://), valid until expiresAt. */
  uri: string;
  expiresAt: string;
  tags: string[];
}

export interface SocketInfo {
  id: string;
  connectedAt: string;
  tags: string[];
}

export interface SocketList {
  results: SocketInfo[];
}

export type AccessControl = 'custom' | 'none';

export interface Configuration {
  accessControl: AccessControl;
}

/** One field-level problem of a 422 answer. */
export interface FieldError {
  reason: string;
  property: string | null;
  message: string;
}
