import type { PresenceCounts } from '../../sdk/src/protocol';
import { subjectTags, type Action } from '../core/access';
import { ApiError, settle, type Outcome } from '../core/errors';
import type { IdempotencyClaim } from '../core/idempotency-key';
import { userOf } from '../core/jwt';
import type { TenantLimits } from '../core/limits';
import { shardOf, tokenForShard, type Cursor, type ShardLayout } from '../core/shards';
import { configurationView, layoutOf, limitsOf, tenantInfo, type ConfigurationView, type TenantInfo } from '../core/tenant-record';
import { randomToken } from '../core/tokens';
import type { AccessControl, ConfigurationUpdate, PushRequest, SocketRequest } from '../core/validation';
import { directoryFor } from '../directory/tenant-directory';
import { closeSocket, countSockets, findSocket, listPage, type SocketPage } from './fan-out';
import { presenceCounts, tagPresence, type TagPresence } from './presence';
import { Publisher, type Published } from './publish';
import type { SocketInfo } from './sockets';
import { TenantCredentials } from './tenant-credentials';
import { TenantShard } from './tenant-shard';
import type { WebhookCommand } from './webhooks';

export type { Action } from '../core/access';
export type { SocketInfo } from './sockets';
export type { SocketPage } from './fan-out';
export type { OutboundMessage, Published } from './publish';

export interface Reservation {
  id: string;
  tags: string[];
  token: string;
  expiresAt: string;
}

/**
 * One tenant, or one shard of a large tenant: configuration (shard 0 only), connect-token reservations,
 * hibernatable WebSockets and the webhook outbox. Shard 0 answers every REST call and fans out to the other shards;
 * a one-shard tenant never leaves its object. RPC methods return Outcomes (ApiErrors as data); socket handlers never
 * throw. This file holds the Admin and Tenant APIs (shard 0); TenantShard (tenant-shard.ts) wires the parts and holds
 * what every shard does: the Shard API, the socket handlers and the alarm. Each method only delegates: the record to
 * TenantStore, security tokens and signing keys to TenantCredentials, sockets to Sockets, upgrades to upgrade, pushes
 * to Publisher and fan-out, a shard's delivery (history, mws.v2, flow control) to ShardDelivery, tokens to
 * ConnectTokens, webhooks (events, outbox, management) to EventPipeline.
 */
export class TenantHub extends TenantShard {
  private readonly credentials = new TenantCredentials(this.store);
  private readonly publisher = new Publisher(this.shards, this.keys);

  // ---- Admin API (the Worker has already checked ADMIN_TOKEN) ----

  createTenant(name: string, accessControl: AccessControl, limits: Partial<TenantLimits> = {}, shards = 1) {
    return settle(async () => {
      const created = await this.store.create(name, accessControl, limits, shards);
      await this.listInDirectory();
      return created;
    });
  }

  setLimits(limits: Partial<TenantLimits>): Promise<Outcome<{ limits: TenantLimits }>> {
    return settle(() => this.store.setLimits(limits));
  }

  /**
   * Changes how many objects the tenant's sockets are spread over; connected sockets stay where they are, and the
   * earlier count is remembered until none of them is left.
   */
  setShards(shards: number): Promise<Outcome<ShardLayout>> {
    return settle(async () => {
      const layout = await this.store.setShards(shards);
      if (layout.previous.length > 0) await this.ensureAlarm();
      return layout;
    });
  }

  describeTenant(): Promise<Outcome<TenantInfo>> {
    return settle(async () => {
      const tenant = this.store.requireTenant();
      // Also lists tenants made before the directory existed: the operator describes each once.
      await this.listInDirectory();
      return tenantInfo(tenant, await countSockets(this.shards, tenant));
    });
  }

  rotateSecurityToken(): Promise<Outcome<{ securityToken: string; validTokens: number }>> {
    return settle(() => this.credentials.rotateSecurityToken());
  }

  revokePreviousSecurityTokens(): Promise<Outcome<{ validTokens: number }>> {
    return settle(() => this.credentials.revokePreviousSecurityTokens());
  }

  /** Closes every socket on every shard the tenant ever had and erases all it stored. */
  deleteTenant(): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      const { name, createdAt } = this.store.requireTenant();
      const erased = await this.store.erase(() => this.shardWipe());
      // A name left listed is harmless (its object answers 404), so a failure here does not fail the delete.
      await directoryFor(this.env, name)
        .remove(name, createdAt)
        .catch((err: unknown) => console.error(`could not unlist tenant ${name} from the directory`, String(err)));
      return erased;
    });
  }

  /** The tenant's shard layout, for routing backend-minted connect tokens; null when there is no such tenant. */
  shardLayout(): ShardLayout | null {
    const tenant = this.store.tenant();
    return tenant === null ? null : layoutOf(tenant);
  }

  // ---- Tenant API (shard 0) ----

  /** Whether `bearer` may do `action`, alone: the Worker asks before it answers input it could not accept. */
  checkAccess(bearer: string | null, action: Action): Promise<Outcome<null>> {
    return settle(async () => {
      await this.credentials.authorize(bearer, action);
      return null;
    });
  }

  /** Delivers a push on every shard it reaches; with an Idempotency-Key, once (a repeat answers the first response). */
  pushMessage(bearer: string | null, push: PushRequest, claim: IdempotencyClaim | null = null): Promise<Outcome<Published>> {
    return settle(async () => {
      const { tenant } = await this.credentials.authorize(bearer, 'push');
      return this.publisher.publish(tenant, push.data, push.receivers, claim, () => this.limiter.spend('push', limitsOf(tenant)));
    });
  }

  /** Reserves a socket id with its tags, on the shard the id belongs to, and returns the single-use connect token. */
  reserveSocket(bearer: string | null, action: Action, request: SocketRequest): Promise<Outcome<Reservation>> {
    return settle(async () => {
      const { tenant, principal } = await this.credentials.authorize(bearer, action);
      const id = request.id ?? crypto.randomUUID();
      const tags = principal.kind === 'user' ? subjectTags(principal.claims, tenant.jwt) : request.tags;
      const user = principal.kind === 'user' ? userOf(principal.claims) : null;
      const shard = shardOf(id, layoutOf(tenant).shards);
      const secret = randomToken();
      const expiresAt = Date.now() + this.config.connectTokenTtlMs;
      if (!(await this.shards.one(tenant.name, shard, (hub) => hub.shardReserve(secret, { id, tags, user }, expiresAt)))) {
        throw new ApiError(404, 'tenant_not_found', 'No such tenant.');
      }
      return { id, tags, token: tokenForShard(shard, secret), expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  listSockets(bearer: string | null, limit: number, cursor: Cursor | null): Promise<Outcome<SocketPage>> {
    return settle(async () => listPage(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, limit, cursor));
  }

  getSocket(bearer: string | null, id: string): Promise<Outcome<SocketInfo>> {
    return settle(async () => {
      const info = await findSocket(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, id);
      if (info === null) throw socketNotFound(id);
      return info;
    });
  }

  deleteSocket(bearer: string | null, id: string): Promise<Outcome<Record<string, never>>> {
    return settle(async () => {
      if ((await closeSocket(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, id)) === 0) throw socketNotFound(id);
      return {};
    });
  }

  getConfiguration(bearer: string | null): Promise<Outcome<ConfigurationView>> {
    return settle(async () => configurationView((await this.credentials.authorize(bearer, 'manage')).tenant));
  }

  setConfiguration(bearer: string | null, update: ConfigurationUpdate): Promise<Outcome<ConfigurationView>> {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.store.setConfiguration(update)));
  }

  createSigningKey(bearer: string | null) {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.credentials.createSigningKey()));
  }

  listSigningKeys(bearer: string | null) {
    return settle(async () => this.credentials.listSigningKeys((await this.credentials.authorize(bearer, 'manage')).tenant));
  }

  deleteSigningKey(bearer: string | null, kid: string): Promise<Outcome<Record<string, never>>> {
    return settle(() => this.credentials.authorize(bearer, 'manage').then(() => this.credentials.deleteSigningKey(kid)));
  }

  /** Creates, lists, changes, rotates, deletes webhooks and lists their deliveries; see Webhooks. */
  manageWebhooks(bearer: string | null, command: WebhookCommand): Promise<Outcome<unknown>> {
    return settle(async () => this.pipeline.manage((await this.credentials.authorize(bearer, 'manage')).tenant, command));
  }

  tagPresence(bearer: string | null, tag: string, limit: number, cursor: Cursor | null): Promise<Outcome<TagPresence>> {
    return settle(async () => tagPresence(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, tag, limit, cursor));
  }

  presence(bearer: string | null, tags: string[]): Promise<Outcome<PresenceCounts>> {
    return settle(async () => ({ tags: await presenceCounts(this.shards, (await this.credentials.authorize(bearer, 'manage')).tenant, tags) }));
  }

  /** Lists this tenant in the tenant directory, which the Worker asks before it routes a request to a tenant. */
  private async listInDirectory(): Promise<void> {
    const { name, createdAt } = this.store.requireTenant();
    try {
      await directoryFor(this.env, name).add(name, createdAt);
    } catch (err) {
      console.error(`could not list tenant ${name} in the directory`, String(err));
      throw new ApiError(503, 'directory_unavailable', `Tenant "${name}" exists but could not be listed yet: GET /admin/tenants/${name} lists it.`, { headers: { 'retry-after': '1' } });
    }
  }
}

function socketNotFound(id: string): ApiError {
  return new ApiError(404, 'socket_not_found', `No connected socket with id "${id}".`);
}
