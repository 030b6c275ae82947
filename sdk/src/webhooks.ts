import type { WebhookEvent, WebhookPayload } from './protocol.js';

/**
 * Verifies MWS webhook deliveries, which follow the Standard Webhooks specification (https://www.standardwebhooks.com/):
 * `webhook-signature` holds `v1,<base64 HMAC-SHA256>` signatures of `webhook-id.webhook-timestamp.body`, keyed with
 * the base64 after `whsec_`. WebCrypto only, so it runs in Node 20+, Workers, Deno and browsers, with no dependency;
 * any Standard Webhooks library verifies the same deliveries.
 */

/** Headers as `fetch` (`Headers`), Node's `http` (`IncomingHttpHeaders`) or a plain object give them. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (replay protection). Default 300. */
  toleranceSeconds?: number;
  /** The current time in ms, for tests. Default `Date.now()`. */
  now?: number;
}

export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** The delivery is not from MWS (or not intact, or too old): answer it with 400 or 401 and do nothing. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

/** A verified delivery: the `webhook-id` (repeats on retries: deduplicate on it) and its typed events. */
export interface VerifiedWebhook extends WebhookPayload {
  webhookId: string;
}

/**
 * Verifies a delivery and returns its events. Give the raw body exactly as received (parse it only after), and
 * during a secret rotation both secrets. Throws WebhookVerificationError when the headers are missing, the
 * timestamp is outside the tolerance, or no signature matches.
 *
 * ```ts
 * const { webhookId, events } = await verifyWebhook(process.env.MWS_WEBHOOK_SECRET, request);
 * ```
 */
export async function verifyWebhook(
  secret: string | readonly string[],
  delivery: Request | { headers: HeadersLike; body: string | Uint8Array },
  options: VerifyWebhookOptions = {},
): Promise<VerifiedWebhook> {
  const headers = delivery.headers;
  const body = isRequest(delivery) ? new Uint8Array(await delivery.arrayBuffer()) : delivery.body;
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === null || timestamp === null || signatures === null) throw new WebhookVerificationError('Missing webhook-id, webhook-timestamp or webhook-signature header.');
  const seconds = /^\d+$/.test(timestamp) ? Number(timestamp) : NaN;
  const now = (options.now ?? Date.now()) / 1000;
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (!Number.isFinite(seconds) || Math.abs(now - seconds) > tolerance) throw new WebhookVerificationError('webhook-timestamp is missing or too far from now.');
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const signed = concat(new TextEncoder().encode(`${id}.${timestamp}.`), bytes);
  const offered = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => s.slice(3));
  for (const key of typeof secret === 'string' ? [secret] : secret) {
    const expected = await sign(key, signed);
    if (offered.some((candidate) => constantTimeEqual(candidate, expected))) {
      const payload = JSON.parse(new TextDecoder().decode(bytes)) as WebhookPayload;
      return { webhookId: id, tenant: payload.tenant, events: payload.events as WebhookEvent[] };
    }
  }
  throw new WebhookVerificationError('No signature matches the secret.');
}

async function sign(secret: string, content: Uint8Array<ArrayBuffer>): Promise<string> {
  const raw = Uint8Array.from(atob(secret.startsWith('whsec_') ? secret.slice(6) : secret), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, content));
  return btoa(String.fromCharCode(...mac));
}

function header(headers: HeadersLike, name: string): string | null {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function isRequest(value: unknown): value is Request {
  return typeof (value as Request).arrayBuffer === 'function' && typeof (value as Request).url === 'string';
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
