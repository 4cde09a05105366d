import { TRANSACTION_ID_LENGTH, type TransactionId } from './transaction-id.js'

/**
 * The name of one shard's branch of a transaction, as both servers see it.
 *
 * - PostgreSQL gid: `<prefix><txId>.<shardId>` (≤ 199 bytes).
 * - MySQL XA xid: gtrid `<prefix><txId>`, bqual `<shardId>`, formatID {@link XA_FORMAT_ID}
 *   (gtrid and bqual ≤ 64 bytes each).
 *
 * Listings (`pg_prepared_xacts`, `XA RECOVER`) are filtered by prefix *and* shard id,
 * because two shards may share a server and must never resolve each other's branches.
 */
export interface BranchId {
  txId: TransactionId
  shardId: string
  /** PostgreSQL's global transaction identifier. */
  gid: string
  /** MySQL's global transaction id part. */
  gtrid: string
  /** MySQL's branch qualifier part. */
  bqual: string
}

/** "stx1" read as a big-endian int32: a fixed formatID marks our XA branches. */
export const XA_FORMAT_ID = 0x73747831

export function branchIdOf(prefix: string, txId: TransactionId, shardId: string): BranchId {
  const gtrid = prefix + txId
  return { txId, shardId, gid: `${gtrid}.${shardId}`, gtrid, bqual: shardId }
}

/** Splits a PostgreSQL gid written by {@link branchIdOf}; undefined when it is not ours. */
export function parseBranchGid(prefix: string, gid: string): { txId: string; shardId: string } | undefined {
  if (!gid.startsWith(prefix)) return undefined
  const txId = gid.slice(prefix.length, prefix.length + TRANSACTION_ID_LENGTH)
  if (gid.charAt(prefix.length + TRANSACTION_ID_LENGTH) !== '.') return undefined
  return { txId, shardId: gid.slice(prefix.length + TRANSACTION_ID_LENGTH + 1) }
}

/** Splits a MySQL xid written by {@link branchIdOf}; undefined when it is not ours. */
export function parseBranchXid(
  prefix: string,
  formatId: number,
  gtrid: string,
  bqual: string,
): { txId: string; shardId: string } | undefined {
  if (formatId !== XA_FORMAT_ID || !gtrid.startsWith(prefix)) return undefined
  const txId = gtrid.slice(prefix.length)
  if (txId.length !== TRANSACTION_ID_LENGTH) return undefined
  return { txId, shardId: bqual }
}
