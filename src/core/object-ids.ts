import { MAX_CACHED_OBJECT_IDS } from './limits';
import { TtlCache } from './ttl-cache';

/**
 * Durable Object ids by name, per namespace: `idFromName` hashes the name on every call (5-10 µs of a connect's CPU
 * in a profile), and an id never changes for its name.
 */
const idsByNamespace = new WeakMap<object, TtlCache<string, DurableObjectId>>();

/** The stub of the object named `name`, its id computed once per isolate. */
export function stubByName<T extends Rpc.DurableObjectBranded | undefined>(namespace: DurableObjectNamespace<T>, name: string): DurableObjectStub<T> {
  let ids = idsByNamespace.get(namespace);
  if (ids === undefined) idsByNamespace.set(namespace, (ids = new TtlCache(MAX_CACHED_OBJECT_IDS, Number.POSITIVE_INFINITY)));
  let id = ids.get(name);
  if (id === undefined) ids.set(name, (id = namespace.idFromName(name)));
  return namespace.get(id);
}
