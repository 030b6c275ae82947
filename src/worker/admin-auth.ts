import type { Config } from '../core/config';
import { ApiError } from '../core/errors';
import { bearerToken, secretsEqual } from '../core/tokens';

/** Lets the request through when it carries ADMIN_TOKEN; throws 401/403/429 otherwise. */
export async function requireAdmin(request: Request, config: Config, env: Env): Promise<void> {
  // Cloudflare sets CF-Connecting-IP on every request at its edge; without it (tests, self-hosting) there is no
  // trustworthy key, so the per-IP limit applies only where it can.
  const ip = request.headers.get('cf-connecting-ip');
  if (ip !== null && env.ADMIN_RATE_LIMITER !== undefined && !(await env.ADMIN_RATE_LIMITER.limit({ key: ip })).success) {
    throw new ApiError(429, 'rate_limited', 'Too many admin requests from this address; retry in a minute.', { headers: { 'retry-after': '60' } });
  }
  if (config.adminToken === null) {
    throw new ApiError(403, 'admin_api_disabled', 'The admin API is disabled: ADMIN_TOKEN is not configured on this deployment.');
  }
  const token = bearerToken(request);
  if (token === null) throw new ApiError(401, 'unauthorized', 'Missing "Authorization: Bearer <ADMIN_TOKEN>" header.', { headers: { 'www-authenticate': 'Bearer' } });
  if (!(await secretsEqual(token, config.adminToken))) throw new ApiError(401, 'unauthorized', 'Invalid admin token.', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });
}
