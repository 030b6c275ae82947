import { WEBHOOK_RESPONSE_EXCERPT_CHARS, WEBHOOK_TIMEOUT_MS } from '../core/limits';
import { judgeStatus, type Attempt } from '../core/webhook-delivery';
import { payloadBody } from '../core/webhook-events';
import { signWebhook } from '../core/webhook-signature';
import { signingSecrets, type WebhookRecord } from '../core/webhook-record';
import { webhookUrlProblem } from '../core/webhook-validation';

export const WEBHOOK_USER_AGENT = 'MWS-Webhooks/1.0';

/**
 * POSTs one batch of events to a webhook, signed the Standard Webhooks way: `webhook-id` (the batch's id, the same
 * on every retry), `webhook-timestamp` (this attempt, in seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>`
 * of `id.timestamp.body`, once per valid secret, so receivers keep verifying through a rotation).
 * Redirects are not followed; the answer's body is read only for a short excerpt; the whole attempt times out.
 */
export async function postWebhook(
  hook: WebhookRecord,
  tenant: string,
  messageId: string,
  eventsJson: readonly string[],
  allowHttpLoopback: boolean,
): Promise<Attempt> {
  const urlProblem = webhookUrlProblem(hook.url, allowHttpLoopback);
  if (urlProblem) return failure(null, 0, `url ${urlProblem.message}`);
  const body = payloadBody(tenant, eventsJson);
  const now = Date.now();
  const timestamp = Math.floor(now / 1000);
  const signature = (await Promise.all(signingSecrets(hook, now).map((secret) => signWebhook(secret, messageId, timestamp, body)))).join(' ');
  const started = performance.now();
  // A timer of our own, cleared at the end: a pending AbortSignal.timeout() would keep the object from hibernating.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), WEBHOOK_TIMEOUT_MS);
  const signal = controller.signal;
  try {
    const response = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': WEBHOOK_USER_AGENT,
        'webhook-id': messageId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature,
      },
      body,
      redirect: 'manual',
      signal,
    });
    const excerpt = await readExcerpt(response);
    const verdict = judgeStatus(response.status);
    return { ...verdict, status: response.status, latencyMs: Math.round(performance.now() - started), response: excerpt };
  } catch (err) {
    const latencyMs = Math.round(performance.now() - started);
    if (signal.aborted) return failure(null, latencyMs, `timed out after ${WEBHOOK_TIMEOUT_MS} ms`);
    return failure(null, latencyMs, `request failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200));
  } finally {
    clearTimeout(timer);
  }
}

function failure(status: number | null, latencyMs: number, error: string): Attempt {
  return { ok: false, status, latencyMs, error, response: null, gone: false };
}

/** The first characters of a body, reading no more than needed, then cancelling the rest. */
async function readExcerpt(response: Response): Promise<string | null> {
  if (response.body === null) return null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < WEBHOOK_RESPONSE_EXCERPT_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text === '' ? null : text.slice(0, WEBHOOK_RESPONSE_EXCERPT_CHARS);
}
