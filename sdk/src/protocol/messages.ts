/** Who gets a message: the union of socket ids (`["*"]` for every socket) and tags; each socket gets it once. */
export interface Receivers {
  sockets: string[] | null;
  tags: string[] | null;
}

/**
 * `POST /v1/messages`: text in `data`, or bytes in `dataBase64` (standard base64), exactly one of them. `receivers`
 * is required; a missing `sockets` or `tags` key counts as null. Send an `Idempotency-Key` header to make retries safe.
 */
export type PushRequest = TextPushRequest | BinaryPushRequest;

export interface TextPushRequest {
  data: string;
  receivers: Receivers;
}

/** Raw sockets get the bytes as one binary frame; mws.v2 sockets a binary frame with a header (decodeBinaryMessage). */
export interface BinaryPushRequest {
  dataBase64: string;
  receivers: Receivers;
}

/** `201` answer of `POST /v1/messages` for text. */
export interface PushResult {
  /** The message id; mws.v2 envelopes carry it. The same on every retry with one Idempotency-Key. */
  id: string;
  data: string;
  /** The receivers as the service read them: both keys, each a list or null. */
  receivers: Receivers;
  /** How many sockets the message was written to (or, for paused mws.v2 sockets, queued for); 0 is a success. */
  sent: number;
}

/** `201` answer of `POST /v1/messages` for bytes. */
export interface BinaryPushResult {
  id: string;
  dataBase64: string;
  receivers: Receivers;
  sent: number;
}

/** The request header that makes `POST /v1/messages` safe to retry; a repeat within 24 h answers the first response. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Set to `true` on an answer that repeats the first response to the same Idempotency-Key (nothing was sent again). */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
