import { handleRequest } from './router';

export { TenantHub } from './tenant-hub';

export default {
  fetch: (request, env) => handleRequest(request, env),
} satisfies ExportedHandler<Env>;
