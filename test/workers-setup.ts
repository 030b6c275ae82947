import { listDurableObjectIds, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll } from 'vitest';

// Every Durable Object call in this pool, an alarm included, imports the Worker through vitest's RPC. A keepalive
// sweep that fires while a test file is being torn down therefore prints an EnvironmentTeardownError ("Closing rpc
// while "resolve" was pending"). Tests leave sockets and reservations behind, which keep the sweep going every
// KEEPALIVE_INTERVAL_SECONDS, so each file stops the sweeps of its objects before it ends.
afterAll(async () => {
  for (const id of await listDurableObjectIds(env.TENANT_HUB)) {
    await runInDurableObject(env.TENANT_HUB.get(id), (_, state) => state.storage.deleteAlarm());
  }
});
