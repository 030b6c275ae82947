import {
  MAX_PREVIOUS_SECRET_TTL_SECONDS,
  MAX_PRESENCE_TAGS,
  MAX_WEBHOOK_DESCRIPTION_LENGTH,
  MAX_WEBHOOK_URL_LENGTH,
  WEBHOOK_DELIVERIES_KEPT,
} from './limits';
import { FieldErrors, requireObject, stringList, tagProblem, type Problem } from './fields';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhook-events';

/** `POST /v1/webhooks`. */
export interface WebhookCreate {
  url: string;
  events: WebhookEventType[];
  description: string | null;
}

/** `PUT /v1/webhooks/{id}`: only the fields given change; `enabled: true` re-enables a disabled webhook. */
export interface WebhookUpdate {
  url?: string;
  events?: WebhookEventType[];
  description?: string | null;
  enabled?: boolean;
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Why `url` cannot receive webhooks, or null when it can: an absolute https URL without credentials. Plain http
 * only for a loopback host, and only where the operator allows it (ALLOW_HTTP_WEBHOOKS, for local development).
 */
export function webhookUrlProblem(url: string, allowHttpLoopback: boolean): Problem | null {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return { reason: 'too_long', message: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters.` };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { reason: 'invalid_value', message: 'must be an absolute URL.' };
  }
  if (parsed.username !== '' || parsed.password !== '') return { reason: 'invalid_value', message: 'must not contain credentials.' };
  if (parsed.protocol === 'https:') return null;
  if (parsed.protocol === 'http:' && allowHttpLoopback && LOOPBACK_HOSTS.test(parsed.hostname)) return null;
  return {
    reason: 'invalid_value',
    message: allowHttpLoopback ? 'must be https (http only to localhost, 127.0.0.1 or [::1]).' : 'must be an https URL.',
  };
}

export function parseWebhookCreate(body: unknown, allowHttpLoopback: boolean): WebhookCreate {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  if (obj.url === undefined) errors.add('required', 'url', 'url is required.');
  if (obj.events === undefined) errors.add('required', 'events', `events is required: a list of ${WEBHOOK_EVENT_TYPES.join(', ')}.`);
  const update = webhookFields(errors, obj, allowHttpLoopback);
  errors.throwIfAny();
  return { url: update.url as string, events: update.events as WebhookEventType[], description: update.description ?? null };
}

export function parseWebhookUpdate(body: unknown, allowHttpLoopback: boolean): WebhookUpdate {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  if (['url', 'events', 'description', 'enabled'].every((key) => obj[key] === undefined)) {
    errors.add('required', null, 'Give url, events, description and/or enabled.');
  }
  const update = webhookFields(errors, obj, allowHttpLoopback);
  if (obj.enabled !== undefined) {
    if (typeof obj.enabled === 'boolean') update.enabled = obj.enabled;
    else errors.add('invalid_type', 'enabled', 'enabled must be true or false.');
  }
  errors.throwIfAny();
  return update;
}

function webhookFields(errors: FieldErrors, obj: Record<string, unknown>, allowHttpLoopback: boolean): WebhookUpdate {
  const out: WebhookUpdate = {};
  if (obj.url !== undefined) {
    const problem = typeof obj.url === 'string' ? webhookUrlProblem(obj.url, allowHttpLoopback) : { reason: 'invalid_type', message: 'must be a string.' };
    if (problem) errors.add(problem.reason, 'url', `url ${problem.message}`);
    else out.url = obj.url as string;
  }
  if (obj.events !== undefined) {
    const known = (s: string): Problem | null =>
      (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s) ? null : { reason: 'invalid_value', message: `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}.` };
    const events = stringList(errors, obj.events, 'events', { maxItems: WEBHOOK_EVENT_TYPES.length * 2, check: known });
    if (events !== null && events.length === 0) errors.add('required', 'events', 'events must name at least one event type.');
    else if (events !== null) out.events = WEBHOOK_EVENT_TYPES.filter((type) => events.includes(type));
  }
  if (obj.description !== undefined) {
    if (obj.description === null) out.description = null;
    else if (typeof obj.description !== 'string') errors.add('invalid_type', 'description', 'description must be a string or null.');
    else if (obj.description.length > MAX_WEBHOOK_DESCRIPTION_LENGTH) {
      errors.add('too_long', 'description', `description must be at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} characters.`);
    } else out.description = obj.description;
  }
  return out;
}

/** `POST /v1/webhooks/{id}/secret`: how long the previous secret keeps signing (default one day). */
export function parseSecretRotation(body: unknown): { previousSecretTtlSeconds: number | null } {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  const ttl = obj.previousSecretTtlSeconds;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_PREVIOUS_SECRET_TTL_SECONDS)) {
    errors.add('invalid_value', 'previousSecretTtlSeconds', `previousSecretTtlSeconds must be a whole number from 0 to ${MAX_PREVIOUS_SECRET_TTL_SECONDS}.`);
  }
  errors.throwIfAny();
  return { previousSecretTtlSeconds: typeof ttl === 'number' ? ttl : null };
}

/** `GET /v1/webhooks/{id}/deliveries?limit=`. */
export function parseDeliveriesQuery(params: URLSearchParams): { limit: number } {
  const errors = new FieldErrors();
  const raw = params.get('limit');
  const limit = raw === null ? WEBHOOK_DELIVERIES_KEPT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > WEBHOOK_DELIVERIES_KEPT) {
    errors.add('invalid_value', 'limit', `limit must be a whole number from 1 to ${WEBHOOK_DELIVERIES_KEPT}.`);
  }
  errors.throwIfAny();
  return { limit };
}

/** `GET /v1/presence?tags=a,b,c`: comma-separated, the parameter may repeat; at most MAX_PRESENCE_TAGS distinct tags. */
export function parsePresenceQuery(params: URLSearchParams): { tags: string[] } {
  const errors = new FieldErrors();
  const raw = params.getAll('tags').flatMap((value) => value.split(',')).filter((tag) => tag !== '');
  const tags = [...new Set(raw)];
  if (tags.length === 0) errors.add('required', 'tags', 'tags is required: ?tags=a,b,c');
  else if (tags.length > MAX_PRESENCE_TAGS) errors.add('too_many', 'tags', `tags has ${tags.length} distinct tags; at most ${MAX_PRESENCE_TAGS} are allowed.`);
  else stringList(errors, tags, 'tags', { maxItems: MAX_PRESENCE_TAGS, check: tagProblem });
  errors.throwIfAny();
  return { tags };
}

/** A tag named in a path (`GET /v1/tags/{tag}`): 422 when it could never be a tag. */
export function parseTagParam(tag: string): string {
  const problem = tagProblem(tag);
  if (problem) {
    const errors = new FieldErrors();
    errors.add(problem.reason, 'tag', `tag ${problem.message}`);
    errors.throwIfAny();
  }
  return tag;
}
