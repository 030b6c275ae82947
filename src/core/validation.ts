import { FieldErrors, requireObject, socketIdProblem, stringList, tagProblem, type Problem } from './fields';
import {
  MAX_JWKS_KEYS,
  MAX_LIST_LIMIT,
  MAX_POLICY_ENTRIES,
  MAX_POLICY_ENTRY_LENGTH,
  MAX_SHARDS,
  MIN_HS256_SECRET_LENGTH,
  MAX_RECEIVER_SOCKETS,
  MAX_RECEIVER_TAGS,
  MAX_SOCKET_TAG_ITEMS,
  MAX_TAGS_PER_SOCKET,
  LIMIT_RANGES,
  type TenantLimits,
} from './limits';
import { parseHistorySettings } from './history-rules';
import type { JwtSettings } from './jwt';
import { POLICY_ENTRY_PATTERN } from './policy';
import { decodeCursor, type Cursor } from './shards';

import {
  ACCESS_CONTROL_MODES,
  CLIENT_MESSAGES_MODES,
  type AccessControl,
  type ClientMessages,
  type ConfigurationUpdate as WireConfigurationUpdate,
  type Receivers,
  type SocketRequest,
  type TenantCreateRequest,
} from '../../sdk/src/protocol';

export type { AccessControl, ClientMessages, Receivers, SocketRequest, TenantCreateRequest };

/** A push as the service handles it: `data` text, or the bytes `dataBase64` carried. */
export interface PushRequest {
  data: string | Uint8Array;
  receivers: Receivers;
}

/** A change to a tenant's configuration, checked: only the fields given are replaced. */
export type ConfigurationUpdate = WireConfigurationUpdate<JwtSettings>;

/** Lowercase DNS label: what a tenant may be called. */
export const TENANT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidTenantName(name: string): boolean {
  return TENANT_NAME_PATTERN.test(name);
}

/** Validates `POST /v1/messages`: exactly one of `data` and `dataBase64`. A missing `sockets` or `tags` key counts as null. */
export function parsePushRequest(body: unknown): PushRequest {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  let data: string | Uint8Array = '';
  if ('data' in obj && 'dataBase64' in obj) errors.add('invalid_value', null, 'Give exactly one of data (text) and dataBase64 (bytes), not both.');
  else if ('dataBase64' in obj) {
    const bytes = typeof obj.dataBase64 === 'string' ? decodeBase64(obj.dataBase64) : null;
    if (bytes === null) errors.add(typeof obj.dataBase64 === 'string' ? 'invalid_value' : 'invalid_type', 'dataBase64', 'dataBase64 must be a string of standard base64 (A-Z a-z 0-9 + /, = padding).');
    else data = bytes;
  } else if (!('data' in obj)) errors.add('required', 'data', 'data (text) or dataBase64 (bytes) is required.');
  else if (typeof obj.data !== 'string') errors.add('invalid_type', 'data', 'data must be a string.');
  // A WebSocket text frame is UTF-8: a lone surrogate could not be delivered byte for byte.
  else if (!obj.data.isWellFormed()) errors.add('invalid_value', 'data', 'data must be well-formed Unicode text (no lone surrogates).');
  else data = obj.data;

  let receivers: Receivers = { sockets: null, tags: null };
  if (!('receivers' in obj) || obj.receivers === null) {
    errors.add('required', 'receivers', 'receivers is required: {"sockets": [...] or null, "tags": [...] or null}.');
  } else if (typeof obj.receivers !== 'object' || Array.isArray(obj.receivers)) {
    errors.add('invalid_type', 'receivers', 'receivers must be an object with "sockets" and/or "tags".');
  } else {
    const r = obj.receivers as Record<string, unknown>;
    receivers = {
      sockets: stringList(errors, r.sockets, 'receivers.sockets', {
        maxItems: MAX_RECEIVER_SOCKETS,
        check: (s) => (s === '*' ? null : socketIdProblem(s)),
      }),
      tags: stringList(errors, r.tags, 'receivers.tags', { maxItems: MAX_RECEIVER_TAGS, check: tagProblem }),
    };
  }
  errors.throwIfAny();
  return { data, receivers };
}

/** Standard base64 (RFC 4648 section 4), padding optional; null when it is not. */
export function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) return null;
  if (text.includes('=') && text.length % 4 !== 0) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Validates `POST /v1/sockets`: optional `id`, optional `tags` (deduplicated). */
export function parseSocketRequest(body: unknown): SocketRequest {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  let id: string | null = null;
  if (obj.id !== undefined && obj.id !== null) {
    if (typeof obj.id !== 'string') errors.add('invalid_type', 'id', 'id must be a string.');
    else {
      const problem = socketIdProblem(obj.id);
      if (problem) errors.add(problem.reason, 'id', `id ${problem.message}`);
      else id = obj.id;
    }
  }
  const tags = parseSocketTags(errors, obj.tags, 'tags');
  errors.throwIfAny();
  return { id, tags };
}

/** Tags for one socket: an array of valid tags, at most MAX_TAGS_PER_SOCKET after removing duplicates. */
function parseSocketTags(errors: FieldErrors, value: unknown, property: string): string[] {
  const list = stringList(errors, value, property, { maxItems: MAX_SOCKET_TAG_ITEMS, check: tagProblem }) ?? [];
  const unique = [...new Set(list)];
  if (unique.length > MAX_TAGS_PER_SOCKET) {
    errors.add('too_many', property, `${property} has ${unique.length} distinct tags; a socket may have at most ${MAX_TAGS_PER_SOCKET}.`);
  }
  return unique;
}

/**
 * Validates `PUT /v1/configuration`: `accessControl`, `jwt` settings and/or `clientMessages`. `jwt.jwksUrl` must be https, or
 * http on a loopback host when the deployment allows it for local development.
 */
export function parseConfiguration(body: unknown, options: { loopbackHttpJwks: boolean }): ConfigurationUpdate {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  if (obj.accessControl === undefined && obj.jwt === undefined && obj.clientMessages === undefined && obj.history === undefined) {
    errors.add('required', 'accessControl', 'Give accessControl, jwt, clientMessages and/or history.');
  }
  const update: ConfigurationUpdate = {};
  if (obj.accessControl !== undefined) update.accessControl = accessControlField(errors, obj.accessControl, true) ?? undefined;
  if (obj.jwt !== undefined) update.jwt = parseJwtSettings(errors, obj.jwt, options.loopbackHttpJwks);
  if (obj.clientMessages !== undefined) {
    if ((CLIENT_MESSAGES_MODES as readonly unknown[]).includes(obj.clientMessages)) update.clientMessages = obj.clientMessages as ClientMessages;
    else errors.add('invalid_value', 'clientMessages', 'clientMessages must be "ignore" or "webhook".');
  }
  if (obj.history !== undefined) update.history = parseHistorySettings(errors, obj.history);
  errors.throwIfAny();
  return update;
}

function parseJwtSettings(errors: FieldErrors, value: unknown, loopbackHttpJwks: boolean): JwtSettings | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.add('invalid_type', 'jwt', 'jwt must be an object.');
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const sources = ['secret', 'jwks', 'jwksUrl'].filter((k) => v[k] !== undefined);
  if (sources.length !== 1) errors.add('invalid_value', 'jwt', 'jwt needs exactly one of secret (HS256), jwks or jwksUrl (RS256/ES256).');
  if (v.secret !== undefined && (typeof v.secret !== 'string' || v.secret.length < MIN_HS256_SECRET_LENGTH)) {
    errors.add('invalid_value', 'jwt.secret', `jwt.secret must be a string of at least ${MIN_HS256_SECRET_LENGTH} characters.`);
  }
  if (v.jwks !== undefined) {
    const keys = (v.jwks as { keys?: unknown } | null)?.keys;
    if (Array.isArray(keys) && keys.length > MAX_JWKS_KEYS) {
      errors.add('too_many', 'jwt.jwks.keys', `jwt.jwks.keys has ${keys.length} keys; at most ${MAX_JWKS_KEYS} are allowed.`);
    } else if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null && typeof (k as { kty?: unknown }).kty === 'string')) {
      errors.add('invalid_value', 'jwt.jwks', 'jwt.jwks must be a JWKS document: {"keys": [{"kty": ...}, ...]}.');
    }
  }
  if (v.jwksUrl !== undefined && !(typeof v.jwksUrl === 'string' && isKeySetUrl(v.jwksUrl, loopbackHttpJwks))) {
    errors.add('invalid_value', 'jwt.jwksUrl', 'jwt.jwksUrl must be an https URL.');
  }
  for (const claim of ['issuer', 'audience', 'groupsClaim'] as const) {
    if (v[claim] !== undefined && (typeof v[claim] !== 'string' || v[claim] === '')) errors.add('invalid_type', `jwt.${claim}`, `jwt.${claim} must be a non-empty string.`);
  }
  if (v.subjectTag !== undefined && typeof v.subjectTag !== 'boolean') errors.add('invalid_type', 'jwt.subjectTag', 'jwt.subjectTag must be true or false.');
  const policy = (v.policy ?? null) as Record<string, unknown> | null;
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    errors.add('required', 'jwt.policy', 'jwt.policy is required: {"read": [...], "write": [...]}.');
    return undefined;
  }
  const entry = (s: string): Problem | null => (POLICY_ENTRY_PATTERN.test(s) && s.length <= MAX_POLICY_ENTRY_LENGTH ? null : { reason: 'invalid_value', message: 'must be "*", "user:<sub>" or "group:<name>".' });
  const read = stringList(errors, policy.read, 'jwt.policy.read', { maxItems: MAX_POLICY_ENTRIES, check: entry }) ?? [];
  const write = stringList(errors, policy.write, 'jwt.policy.write', { maxItems: MAX_POLICY_ENTRIES, check: entry }) ?? [];
  return {
    ...(typeof v.secret === 'string' ? { secret: v.secret } : {}),
    ...(v.jwks !== undefined ? { jwks: v.jwks as JwtSettings['jwks'] } : {}),
    ...(typeof v.jwksUrl === 'string' ? { jwksUrl: v.jwksUrl } : {}),
    ...(typeof v.issuer === 'string' ? { issuer: v.issuer } : {}),
    ...(typeof v.audience === 'string' ? { audience: v.audience } : {}),
    policy: { read, write },
    groupsClaim: typeof v.groupsClaim === 'string' ? v.groupsClaim : 'groups',
    subjectTag: v.subjectTag !== false,
  };
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

function isKeySetUrl(value: string, loopbackHttp: boolean): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (loopbackHttp && url.protocol === 'http:' && LOOPBACK_HOSTS.includes(url.hostname));
  } catch {
    return false;
  }
}

export function parseTenantCreate(body: unknown): TenantCreateRequest {
  const obj = requireObject(body);
  const errors = new FieldErrors();
  if (typeof obj.name !== 'string') {
    errors.add(obj.name === undefined ? 'required' : 'invalid_type', 'name', 'name is required and must be a string.');
  } else if (!isValidTenantName(obj.name)) {
    errors.add('invalid_value', 'name', 'name must be a lowercase DNS label: a-z, 0-9 and "-", 1 to 63 characters, not starting or ending with "-".');
  }
  const accessControl = accessControlField(errors, obj.accessControl, false) ?? 'custom';
  if (accessControl === 'jwt') errors.add('invalid_value', 'accessControl', 'Create the tenant, then switch to "jwt" with PUT /v1/configuration and its jwt settings.');
  const limits = obj.limits === undefined ? {} : limitsFields(errors, obj.limits);
  const shards = obj.shards === undefined ? 1 : shardsField(errors, obj.shards);
  errors.throwIfAny();
  return { name: obj.name as string, accessControl, limits, shards };
}

/** Validates `PUT /admin/tenants/{name}/shards`. */
export function parseShards(body: unknown): { shards: number } {
  const errors = new FieldErrors();
  const shards = shardsField(errors, requireObject(body).shards);
  errors.throwIfAny();
  return { shards };
}

function shardsField(errors: FieldErrors, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_SHARDS) {
    errors.add(value === undefined ? 'required' : 'invalid_value', 'shards', `shards must be a whole number from 1 to ${MAX_SHARDS}.`);
    return 1;
  }
  return value;
}

/** Validates `GET /v1/sockets?limit=&cursor=`. */
export function parseListQuery(params: URLSearchParams): { limit: number; cursor: Cursor | null } {
  const errors = new FieldErrors();
  const rawLimit = params.get('limit');
  let limit = MAX_LIST_LIMIT;
  if (rawLimit !== null) {
    limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) errors.add('invalid_value', 'limit', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}.`);
  }
  const rawCursor = params.get('cursor');
  const cursor = rawCursor === null || rawCursor === '' ? null : decodeCursor(rawCursor);
  if (rawCursor !== null && rawCursor !== '' && cursor === null) errors.add('invalid_value', 'cursor', 'cursor must be a value returned by a previous page.');
  errors.throwIfAny();
  return { limit, cursor };
}

/** Validates `PUT /admin/tenants/{name}/limits` (and `limits` on create): whole numbers within documented ranges. */
export function parseLimits(body: unknown): Partial<TenantLimits> {
  const errors = new FieldErrors();
  const limits = limitsFields(errors, requireObject(body));
  errors.throwIfAny();
  return limits;
}

function limitsFields(errors: FieldErrors, value: unknown): Partial<TenantLimits> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.add('invalid_type', 'limits', 'limits must be an object.');
    return {};
  }
  const v = value as Record<string, unknown>;
  const out: Partial<TenantLimits> = {};
  for (const [key, [min, max]] of Object.entries(LIMIT_RANGES) as [keyof TenantLimits, [number, number]][]) {
    const n = v[key];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) errors.add('invalid_value', key, `${key} must be a whole number from ${min} to ${max}.`);
    else out[key] = n;
  }
  return out;
}

function accessControlField(errors: FieldErrors, value: unknown, required: boolean): AccessControl | null {
  if (value === undefined && !required) return null;
  if (typeof value !== 'string' || !(ACCESS_CONTROL_MODES as readonly string[]).includes(value)) {
    errors.add(value === undefined ? 'required' : 'invalid_value', 'accessControl', `accessControl must be one of ${ACCESS_CONTROL_MODES.map((m) => `"${m}"`).join(', ')}.`);
    return null;
  }
  return value as AccessControl;
}
