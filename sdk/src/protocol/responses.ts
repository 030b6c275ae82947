// ---- Errors ----

/** Every non-2xx answer except 422: `{"error": {reason, message}}`. */
export interface ErrorEnvelope {
  error: { reason: string; message: string };
}

/** One field-level problem in a request body. */
export interface FieldError {
  /** One of FieldErrorReason. */
  reason: string;
  /** The field's path (`data`, `receivers.tags[1]`), or null for the body as a whole. */
  property: string | null;
  message: string;
}

/** A 422 answer: the problems of the body, at most 20, then one `too_many_errors` entry counting the rest. */
export interface ValidationErrorEnvelope {
  errors: FieldError[];
}

/** `error.reason` values the service documents (README, "Statuses and error reasons"). */
export type ErrorReason =
  | 'unauthorized'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'invalid_signature'
  | 'invalid_audience'
  | 'invalid_issuer'
  | 'invalid_claims'
  | 'unsupported_algorithm'
  | 'invalid_token'
  | 'forbidden'
  | 'admin_api_disabled'
  | 'tenant_not_found'
  | 'socket_not_found'
  | 'signing_key_not_found'
  | 'not_found'
  | 'method_not_allowed'
  | 'tenant_exists'
  | 'too_many_signing_keys'
  | 'too_many_webhooks'
  | 'webhook_not_found'
  | 'payload_too_large'
  | 'upgrade_required'
  | 'rate_limited'
  | 'internal_error'
  | 'service_unavailable'
  | 'tenant_full'
  | 'partial_delivery'
  | 'key_set_unavailable';

/** `errors[].reason` values of a 422 answer. */
export type FieldErrorReason = 'invalid_json' | 'invalid_encoding' | 'invalid_type' | 'required' | 'invalid_value' | 'too_long' | 'too_many' | 'too_many_errors';

// ---- Service ----

/** `GET /` on any host: `tenant` is null on a host that names no tenant. */
export interface ServiceInfo {
  name: string;
  version: string;
  tenant: string | null;
}

/** The body of `DELETE` answers and other calls with nothing to report. */
export type EmptyResult = Record<string, never>;
