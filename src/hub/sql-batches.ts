/**
 * Statements over many rows at once, each within the bound parameters one statement may have on Cloudflare
 * (https://developers.cloudflare.com/durable-objects/platform/limits/): a burst becomes a few calls, not one per row.
 */
const MAX_BOUND_PARAMETERS = 100;

/** `INSERT ... INTO t (a, b)` followed by as many `(?, ?)` rows per statement as fit. */
export function insertRows(sql: SqlStorage, head: string, rows: readonly (readonly SqlStorageValue[])[]): void {
  const width = rows[0]?.length ?? 1;
  const perStatement = Math.floor(MAX_BOUND_PARAMETERS / width);
  const placeholder = `(${Array(width).fill('?').join(', ')})`;
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    sql.exec(`${head} VALUES ${chunk.map(() => placeholder).join(', ')}`, ...chunk.flat());
  }
}

/** A statement ending in `WHERE column`, followed by `IN (?, ...)` for as many values per statement as fit. */
export function execWhereIn(sql: SqlStorage, head: string, values: readonly SqlStorageValue[]): void {
  for (let i = 0; i < values.length; i += MAX_BOUND_PARAMETERS) {
    const chunk = values.slice(i, i + MAX_BOUND_PARAMETERS);
    sql.exec(`${head} IN (${chunk.map(() => '?').join(', ')})`, ...chunk);
  }
}
