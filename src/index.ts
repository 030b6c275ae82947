import { handleRequest } from './worker/handler';

export { TenantDirectory } from './directory/tenant-directory';
export { TenantHub } from './hub/tenant-hub';

export default {
  fetch: (request, env) => handleRequest(request, env),
} satisfies ExportedHandler<Env>;
