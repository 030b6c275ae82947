import { ApiError, errorResponse } from '../core/errors';
import { chooseProtocol, V2_PROTOCOL } from '../core/frames';
import { CloseCode, closeQuietly } from './close-codes';
import type { ConnectTokens, Grant } from './connect-tokens';
import type { RateLimiter } from './rate-limiter';
import type { Sockets } from './sockets';
import type { Placement } from './tenant-store';
import type { V2Protocol } from './v2-protocol';

export interface UpgradeContext {
  placement: Placement | null;
  limiter: RateLimiter;
  sockets: Sockets;
  connectTokens: ConnectTokens;
  v2: V2Protocol;
  /** "tenant acme shard 2", for log lines. */
  where: string;
}

/**
 * A WebSocket upgrade with `?token=`: an opaque token from a reservation, or a JWT a backend minted. Token refusals
 * are close codes the client can see, even in a browser; load refusals are HTTP 429/503. Offering the `mws.v2`
 * subprotocol opts into envelopes, resume (`&resume=`) and acks, and the 101 names it; otherwise the socket is raw.
 */
export async function upgrade(request: Request, ctx: UpgradeContext): Promise<Response> {
  const { placement } = ctx;
  if (placement === null) return refuseSocket(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
  try {
    ctx.limiter.spend('connect', placement.limits.connectsPerSecond);
    if (ctx.sockets.heldCount() >= placement.limits.maxSockets) {
      throw new ApiError(503, 'tenant_full', `This tenant has reached its limit of ${placement.limits.maxSockets} sockets per object.`, { headers: { 'retry-after': '10' } });
    }
  } catch (err) {
    return errorResponse(err, `upgrade (${ctx.where})`);
  }
  const params = new URL(request.url).searchParams;
  const token = params.get('token');
  if (!token) return refuseSocket(CloseCode.INVALID_TOKEN, 'missing connect token');
  let grant: Grant | null;
  try {
    grant = await ctx.connectTokens.redeemAny(token, placement);
  } catch (err) {
    return refuseSocket(CloseCode.INVALID_TOKEN, err instanceof ApiError ? `${err.reason}: ${err.message}` : 'invalid connect token');
  }
  if (grant === null) return refuseSocket(CloseCode.INVALID_TOKEN, 'connect token is unknown, already used or expired');
  if (chooseProtocol(request.headers.get('sec-websocket-protocol')) === V2_PROTOCOL) {
    const client = await ctx.v2.open(grant, params.get('resume'), placement.tenant, placement.shard);
    if (client === null) return refuseSocket(CloseCode.SEND_FAILED, 'internal error: the socket could not be accepted');
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': V2_PROTOCOL } });
  }
  const accepted = ctx.sockets.accept(grant.id, grant.tags, Date.now(), (older) => ctx.v2.onGone(older));
  if (accepted === null) return refuseSocket(CloseCode.SEND_FAILED, 'internal error: the socket could not be accepted');
  return new Response(null, { status: 101, webSocket: accepted.client });
}

/** Completes the upgrade only to close at once with `code`, so even a browser sees why it was refused. */
function refuseSocket(code: number, reason: string): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  closeQuietly(server, code, reason);
  return new Response(null, { status: 101, webSocket: client });
}
