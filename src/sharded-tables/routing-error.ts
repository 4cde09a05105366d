import { ShardTxError } from '../errors.js'

/**
 * Why a statement on a declared table was refused:
 * - `SHARD_KEY_UPDATE`: an update sets a shard-key column (the row would belong to another shard);
 * - `ALL_SHARDS_WRITE`: a write whose filter does not pin the shard key, without `{ allShards: true }`;
 * - `MISSING_SHARD_KEY`: an inserted row lacks a shard-key column (or it is null);
 * - `UNROUTABLE_QUERY`: an operation whose answer cannot be assembled correctly from several shards;
 * - `INVALID_QUERY`: an argument the builder does not accept.
 *
 * ```ts
 * if (err instanceof RoutingError && err.code === 'SHARD_KEY_UPDATE') …
 * ```
 */
export type RoutingErrorCode = 'SHARD_KEY_UPDATE' | 'ALL_SHARDS_WRITE' | 'MISSING_SHARD_KEY' | 'UNROUTABLE_QUERY' | 'INVALID_QUERY'

/**
 * A statement on a declared table was refused before any shard saw it,
 * because it cannot be routed correctly. `code` says why.
 *
 * ```ts
 * try { await tx.table('accounts').update({ balance: 0 }) }
 * catch (err) { if (err instanceof RoutingError && err.code === 'ALL_SHARDS_WRITE') … }
 * ```
 */
export class RoutingError extends ShardTxError {
  declare readonly code: RoutingErrorCode
  readonly table: string
  constructor(code: RoutingErrorCode, table: string, problem: string, cause?: unknown) {
    super(`table ${table}: ${problem}`, { code, cause })
    this.table = table
  }
}
