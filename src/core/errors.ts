import type { FieldError } from '../../sdk/src/protocol';
import { MAX_FIELD_ERRORS } from './limits';

export type { FieldError };

/** The plain-data form of an ApiError, safe to return across Durable Object RPC. */
export interface ApiErrorData {
  status: number;
  reason: string;
  message: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

/**
 * The one error type of the service: handlers throw it, `errorResponse` renders it.
 * Statuses 4xx/5xx use `{"error": {reason, message}}`; 422 uses `{"errors": [...]}`.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly errors?: FieldError[];
  readonly headers?: Record<string, string>;

  constructor(status: number, reason: string, message: string, extra: { errors?: FieldError[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.errors = extra.errors;
    this.headers = extra.headers;
  }

  /** A 422 listing the first MAX_FIELD_ERRORS problems, then one `too_many_errors` entry counting the rest. */
  static unprocessable(errors: FieldError[]): ApiError {
    const listed = errors.slice(0, MAX_FIELD_ERRORS);
    if (errors.length > MAX_FIELD_ERRORS) {
      const more = errors.length - MAX_FIELD_ERRORS;
      listed.push({ reason: 'too_many_errors', property: null, message: `${more} more ${more === 1 ? 'problem is' : 'problems are'} not listed.` });
    }
    return new ApiError(422, 'unprocessable_entity', listed.map((e) => e.message).join('; '), { errors: listed });
  }

  toData(): ApiErrorData {
    return { status: this.status, reason: this.reason, message: this.message, errors: this.errors, headers: this.headers };
  }

  static fromData(data: ApiErrorData): ApiError {
    return new ApiError(data.status, data.reason, data.message, { errors: data.errors, headers: data.headers });
  }
}

/** A Durable Object RPC result: ApiErrors cross the RPC boundary as data, not as exceptions. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ApiErrorData };

/** Runs `fn` and captures an ApiError as a failed Outcome; any other error propagates. */
export async function settle<T>(fn: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, error: err.toData() };
    throw err;
  }
}

/** Returns the value of an Outcome or throws its ApiError. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw ApiError.fromData(outcome.error);
}

/**
 * The one place an error becomes a response, for REST calls and refused upgrades alike. Unknown errors become a
 * 500 that leaks nothing; `context` names where it happened in the log (a route, or a tenant and shard).
 */
export function errorResponse(err: unknown, context: string): Response {
  const apiError = err instanceof ApiError ? err : internalError(err, context);
  const body =
    apiError.status === 422 && apiError.errors
      ? { errors: apiError.errors }
      : { error: { reason: apiError.reason, message: apiError.message } };
  return new Response(JSON.stringify(body), {
    status: apiError.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...apiError.headers },
  });
}

function internalError(err: unknown, context: string): ApiError {
  if (isDurableObjectUnavailable(err)) {
    console.warn('tenant object unavailable', context, String(err));
    return new ApiError(503, 'service_unavailable', 'The tenant is briefly unavailable; retry shortly.', {
      headers: { 'retry-after': '1' },
    });
  }
  console.error('unhandled error', context, err instanceof Error ? (err.stack ?? err.message) : String(err));
  return new ApiError(500, 'internal_error', 'Internal server error.');
}

// Durable Object errors carry `retryable`/`overloaded` flags:
// https://developers.cloudflare.com/durable-objects/best-practices/error-handling/
function isDurableObjectUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const flags = err as { retryable?: unknown; overloaded?: unknown };
  return flags.retryable === true || flags.overloaded === true;
}
