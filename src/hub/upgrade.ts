import { ApiError, errorResponse } from '../core/errors';
import { chooseProtocol, V2_PROTOCOL } from '../core/frames';
import { looksLikeJwt } from '../core/jwt';
import { MISDIRECTED_STATUS, ROUTED_SHARD_HEADER, shardsForId } from '../core/shards';
import { CloseCode, refuseUpgrade, UNKNOWN_TOKEN_REASON } from '../core/close-codes';
import type { ConnectTokens, Redemption } from './connect-tokens';
import type { RateLimiter } from './rate-limiter';
import type { ShardCalls } from './shard-calls';
import type { Sockets } from './sockets';
import type { Placement, TenantStore } from './tenant-store';
import type { V2Protocol } from './v2-protocol';

/** The parts of the object an upgrade uses. */
export interface UpgradeParts {
  store: TenantStore;
  sockets: Sockets;
  connectTokens: ConnectTokens;
  limiter: RateLimiter;
  shards: ShardCalls;
  v2: V2Protocol;
  ensureAlarm: () => Promise<void>;
  where: () => string;
}

/**
 * A WebSocket upgrade with `?token=`: an opaque token from a reservation, or a JWT a backend minted.
 * Token refusals are close codes the client can see, even in a browser; load refusals are HTTP 429/503.
 * While earlier shard counts are remembered, a socket id may also be connected on the shard an earlier count put it
 * on: that older connection is closed (4003) once the new one is accepted, and a JWT's `jti` is checked there too.
 * Offering the `mws.v2` subprotocol opts into envelopes, resume (`&resume=`) and acks, and the 101 names it;
 * otherwise the socket is raw.
 */
export async function upgrade(hub: UpgradeParts, request: Request): Promise<Response> {
  const protocol = chooseProtocol(request.headers.get('sec-websocket-protocol'));
  const refuse = (code: number, reason: string): Response => refuseUpgrade(request, code, reason);
  const placement = hub.store.placement();
  const query = new URL(request.url).searchParams;
  const token = query.get('token');
  if (placement === null) {
    // A JWT routed to shard k > 0 by a layout of a deleted tenant: shard 0 knows whether the tenant exists now.
    const routedTo = request.headers.get(ROUTED_SHARD_HEADER);
    const stale = token !== null && looksLikeJwt(token) && routedTo !== null && routedTo !== '0';
    return stale ? misdirected() : refuse(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
  }
  try {
    hub.limiter.spend('connect', placement.limits);
    const refusal = hub.sockets.capRefusal(placement.limits.maxSockets);
    if (refusal !== null) throw new ApiError(503, 'tenant_full', refusal, { headers: { 'retry-after': '10' } });
  } catch (err) {
    return errorResponse(err, `upgrade (${hub.where()})`);
  }
  if (!token) return refuse(CloseCode.INVALID_TOKEN, 'missing connect token');
  let redemption: Redemption;
  try {
    redemption = await hub.connectTokens.redeemAny(token, placement, (jti, id, until) => spendElsewhere(hub, placement, jti, id, until));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return refuse(CloseCode.INVALID_TOKEN, `${err.reason}: ${err.message}`);
    return errorResponse(err, `upgrade (${hub.where()})`);
  }
  if (redemption === 'misdirected') return misdirected();
  if (redemption === null) {
    // A JWT refused as used on another shard was recorded here too: the sweep must run to forget it.
    if (looksLikeJwt(token)) await hub.ensureAlarm();
    return refuse(CloseCode.INVALID_TOKEN, UNKNOWN_TOKEN_REASON);
  }
  // The tenant may have been deleted (and even created again) while the token was checked.
  if (hub.store.placement()?.createdAt !== placement.createdAt) return refuse(CloseCode.TENANT_NOT_FOUND, 'tenant not found');
  const v2 = protocol === V2_PROTOCOL;
  const client = v2
    ? await hub.v2.open(redemption, query.get('resume'), placement.tenant, placement.shard)
    : (hub.sockets.accept(redemption.id, redemption.tags, redemption.user, { onReplaced: (older) => hub.v2.onGone(older) })?.client ?? null);
  if (client === null) return refuse(CloseCode.SEND_FAILED, 'internal error: the socket could not be accepted');
  await replaceElsewhere(hub, placement, redemption.id);
  await hub.ensureAlarm();
  return new Response(null, { status: 101, webSocket: client, ...(v2 ? { headers: { 'sec-websocket-protocol': V2_PROTOCOL } } : {}) });
}

/** The shards other than this one that earlier layouts may have put `id` on. */
function otherShardsFor(id: string, placement: Placement): number[] {
  return placement.layout.previous.length === 0 ? [] : shardsForId(id, placement.layout).filter((k) => k !== placement.shard);
}

async function spendElsewhere(hub: UpgradeParts, placement: Placement, jti: string, id: string, until: number): Promise<boolean> {
  try {
    const spent = await hub.shards.each(placement.tenant, otherShardsFor(id, placement), (shard) => shard.shardSpendJti(jti, until));
    return spent.every(Boolean);
  } catch (err) {
    console.warn(`could not check a connect token on other shards (${hub.where()})`, String(err));
    throw new ApiError(503, 'shards_unavailable', 'Another shard of this tenant did not answer; retry shortly.', { headers: { 'retry-after': '1' } });
  }
}

/** Closes (4003) the older connections of `id` on the shards earlier layouts put it on. */
async function replaceElsewhere(hub: UpgradeParts, placement: Placement, id: string): Promise<void> {
  const others = otherShardsFor(id, placement);
  const results = await Promise.allSettled(others.map((k) => hub.shards.one(placement.tenant, k, (shard) => shard.shardReplace(id))));
  for (const result of results) {
    if (result.status === 'rejected') console.warn(`could not close an older connection on another shard (${hub.where()})`, String(result.reason));
  }
}

function misdirected(): Response {
  return errorResponse(new ApiError(MISDIRECTED_STATUS, 'misdirected', 'This socket belongs on another shard.'), 'upgrade');
}
