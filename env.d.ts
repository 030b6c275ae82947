// Secrets are not in wrangler.toml, so `wrangler types` cannot see them.
interface Env {
  /** Operator token for /admin; set with `wrangler secret put ADMIN_TOKEN` or in `.dev.vars`. */
  ADMIN_TOKEN?: string;
}
