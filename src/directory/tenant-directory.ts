import { DurableObject } from 'cloudflare:workers';
import { DIRECTORY_PARTS } from '../core/limits';
import { shardOf } from '../core/shards';
import { stubByName } from '../core/object-ids';

/**
 * One part of the tenant directory: the names of the tenants that exist, each with the `createdAt` of its record.
 * The Worker asks it before it sends a request to a tenant's object, so a name that was never created starts no
 * object (local workerd creates a database file for every object it starts, and keeps it in memory).
 * Tenant objects keep it true: they add their name when they are created (or described by the operator, which
 * registers tenants made before the directory existed) and remove it when they are deleted.
 */
export class TenantDirectory extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL)');
  }

  has(name: string): boolean {
    return this.sql.exec('SELECT 1 FROM tenants WHERE name = ?', name).toArray().length > 0;
  }

  add(name: string, createdAt: number): void {
    this.sql.exec('INSERT OR REPLACE INTO tenants (name, created_at) VALUES (?, ?)', name, createdAt);
  }

  /** Removes the name when it still stands for the tenant created at `createdAt` (not a newer one of that name). */
  remove(name: string, createdAt: number): void {
    this.sql.exec('DELETE FROM tenants WHERE name = ? AND created_at = ?', name, createdAt);
  }
}

/** The directory part that holds `tenant`. */
export function directoryFor(env: Env, tenant: string): DurableObjectStub<TenantDirectory> {
  return stubByName(env.TENANT_DIRECTORY, `part-${shardOf(tenant, DIRECTORY_PARTS)}`);
}
