import type { Config } from '../core/config';

/** Where a request is aimed: a tenant's API (with the path inside it), or the apex host that names no tenant. */
export type Target =
  | {
      kind: 'tenant';
      tenant: string;
      /** The path inside the tenant, always starting with "/" (e.g. "/v1/messages"). */
      path: string;
      /** The URL prefix clients use for this tenant, e.g. "https://foo.example.com" or "http://localhost:8787/v1/gateways/foo". */
      base: string;
    }
  | { kind: 'apex'; path: string };

/**
 * The URL as the client sent it: behind a TLS-terminating proxy (self-hosted) the request arrives as http, and the
 * proxy's `X-Forwarded-Proto: https` makes connect URIs say wss://. Only ever upgrades the scheme, never downgrades.
 */
export function publicUrl(request: Request): URL {
  const url = new URL(request.url);
  if (url.protocol === 'http:' && request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https') url.protocol = 'https:';
  return url;
}

const GATEWAY_PREFIX = /^\/v1\/gateways\/([^/]*)(\/.*)?$/;

/**
 * Resolves the tenant from `/v1/gateways/{tenant}/...` or else from the leftmost label of the host.
 * Under the gateway prefix, both `/messages` and `/v1/messages` name the same call.
 */
export function resolveTarget(url: URL, config: Pick<Config, 'rootDomain'>): Target {
  const gateway = GATEWAY_PREFIX.exec(url.pathname);
  if (gateway) {
    const tenant = decodeLabel(gateway[1] ?? '');
    const rest = gateway[2] ?? '/';
    const path = rest === '/' || rest.startsWith('/v1/') || rest === '/v1' ? rest : `/v1${rest}`;
    return { kind: 'tenant', tenant, path, base: `${url.origin}/v1/gateways/${gateway[1]}` };
  }
  const tenant = tenantFromHost(url.hostname, config.rootDomain);
  if (tenant === null) return { kind: 'apex', path: url.pathname };
  return { kind: 'tenant', tenant, path: url.pathname, base: url.origin };
}

/**
 * The tenant named by a host name, or null when the host is the service host (admin API, tenants by gateway).
 * `<tenant>.localhost` always names a tenant (local development); otherwise only `<tenant>.<ROOT_DOMAIN>` does, so a
 * deployment on workers.dev or on a custom host without ROOT_DOMAIN serves the admin API out of the box.
 */
export function tenantFromHost(hostname: string, rootDomain: string | null): string | null {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (isIpAddress(host)) return null;
  const labels = host.split('.');
  if (labels.length >= 2 && labels[labels.length - 1] === 'localhost') return labels[0] ?? null;
  if (rootDomain === null || !host.endsWith(`.${rootDomain}`)) return null;
  return labels[0] ?? null;
}

function isIpAddress(host: string): boolean {
  return host.startsWith('[') || host.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

function decodeLabel(raw: string): string {
  try {
    return decodeURIComponent(raw).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}
