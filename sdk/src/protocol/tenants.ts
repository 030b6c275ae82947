import type { AccessControl, TenantLimits } from './configuration.js';

/**
 * `POST /admin/tenants`. Only `name` is required: `accessControl` defaults to "custom" ("jwt" is refused here),
 * `limits` to {}, `shards` to 1.
 */
export interface TenantCreateRequest {
  name: string;
  accessControl: AccessControl;
  limits: Partial<TenantLimits>;
  shards: number;
}

/** `201` answer of `POST /admin/tenants`: the security token is shown this once. */
export interface TenantCreated {
  name: string;
  securityToken: string;
  accessControl: AccessControl;
  limits: TenantLimits;
  shards: number;
}

/** `200` answer of `GET /admin/tenants/{name}`. */
export interface TenantInfo {
  name: string;
  accessControl: AccessControl;
  createdAt: string;
  /** How many security tokens are valid (1 or 2). */
  securityTokens: number;
  /** Connected sockets, on all shards. */
  sockets: number;
  limits: TenantLimits;
  shards: number;
  /** Earlier shard counts, newest first, that sockets still connected were placed by. */
  previousShards: number[];
}

/** `PUT /admin/tenants/{name}/limits` takes `Partial<TenantLimits>` and answers this. */
export interface LimitsResult {
  limits: TenantLimits;
}

/** `PUT /admin/tenants/{name}/shards`. */
export interface ShardsRequest {
  shards: number;
}

/** `200` answer of `PUT /admin/tenants/{name}/shards`: the new count and the earlier counts still searched. */
export interface ShardsResult {
  shards: number;
  previous: number[];
}

/** `201` answer of `POST /admin/tenants/{name}/security-tokens`. */
export interface SecurityTokenRotated {
  securityToken: string;
  validTokens: number;
}

/** `200` answer of `DELETE /admin/tenants/{name}/security-tokens/previous`. */
export interface SecurityTokensRevoked {
  validTokens: number;
}
