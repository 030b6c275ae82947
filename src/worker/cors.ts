/**
 * CORS as the original MWS answered it: reflect the request's Origin, allow the API's methods and headers.
 * Requests without an Origin header get no CORS headers at all.
 */
const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, Content-Type, Idempotency-Key';
const EXPOSE_HEADERS = 'Idempotent-Replayed, Retry-After';
const MAX_AGE_SECONDS = '86400';

export function corsHeaders(request: Request): Record<string, string> {
  const origin = request.headers.get('origin');
  if (origin === null) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': ALLOW_METHODS,
    'access-control-allow-headers': ALLOW_HEADERS,
    'access-control-expose-headers': EXPOSE_HEADERS,
    'access-control-max-age': MAX_AGE_SECONDS,
    vary: 'Origin',
  };
}

/** The answer to any OPTIONS request (a preflight when it has an Origin). */
export function preflightResponse(request: Request): Response {
  return new Response(null, { status: 204, headers: { allow: ALLOW_METHODS, ...corsHeaders(request) } });
}

/** Adds CORS headers to a response; WebSocket upgrades (101) are passed through untouched. */
export function withCors(response: Response, request: Request): Response {
  const headers = corsHeaders(request);
  if (response.status === 101 || Object.keys(headers).length === 0) return response;
  const out = new Response(response.body, response);
  for (const [name, value] of Object.entries(headers)) out.headers.set(name, value);
  return out;
}
