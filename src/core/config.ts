/** Typed, defaulted configuration read from the Worker's environment. */
export interface Config {
  /** The operator's bearer token for /admin; null when the secret is not configured (the admin API then refuses every call). */
  adminToken: string | null;
  /** When set (e.g. "example.com"), `<tenant>.example.com` names a tenant; otherwise only `<tenant>.localhost` does. */
  rootDomain: string | null;
  keepaliveIntervalMs: number;
  connectTokenTtlMs: number;
  /** Lets webhooks use plain http to loopback hosts (local development and tests); https only otherwise. */
  allowHttpWebhooks: boolean;
  /** Local development only: a tenant's `jwt.jwksUrl` may be `http://` on localhost, 127.0.0.1 or [::1]. */
  allowLoopbackHttpJwks: boolean;
}

export const DEFAULT_KEEPALIVE_INTERVAL_SECONDS = 50;
export const DEFAULT_CONNECT_TOKEN_TTL_SECONDS = 300;

/** The environment fields MWS reads; vars arrive as strings. */
export interface ConfigEnv {
  ADMIN_TOKEN?: string;
  ROOT_DOMAIN?: string;
  KEEPALIVE_INTERVAL_SECONDS?: string;
  CONNECT_TOKEN_TTL_SECONDS?: string;
  ALLOW_HTTP_WEBHOOKS?: string;
  ALLOW_LOOPBACK_HTTP_JWKS?: string;
}

export function readConfig(env: ConfigEnv): Config {
  return {
    adminToken: nonEmptyString(env.ADMIN_TOKEN),
    rootDomain: nonEmptyString(env.ROOT_DOMAIN)?.toLowerCase().replace(/^\.+|\.+$/g, '') || null,
    keepaliveIntervalMs: positiveSeconds(env.KEEPALIVE_INTERVAL_SECONDS, DEFAULT_KEEPALIVE_INTERVAL_SECONDS) * 1000,
    connectTokenTtlMs: positiveSeconds(env.CONNECT_TOKEN_TTL_SECONDS, DEFAULT_CONNECT_TOKEN_TTL_SECONDS) * 1000,
    allowHttpWebhooks: nonEmptyString(env.ALLOW_HTTP_WEBHOOKS)?.toLowerCase() === 'true',
    allowLoopbackHttpJwks: nonEmptyString(env.ALLOW_LOOPBACK_HTTP_JWKS)?.toLowerCase() === 'true',
  };
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

function positiveSeconds(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
