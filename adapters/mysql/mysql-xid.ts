import type { BranchId } from '../../src/protocol/ids/branch-id.js'
import { XA_FORMAT_ID } from '../../src/protocol/ids/branch-id.js'

/**
 * An xid as SQL: hex literals for gtrid and bqual. XA statements take no
 * server-side placeholders, and hex needs no escaping whatever the text holds.
 */
export function xidLiteral(branch: BranchId): string {
  return `X'${Buffer.from(branch.gtrid).toString('hex')}',X'${Buffer.from(branch.bqual).toString('hex')}',${XA_FORMAT_ID}`
}

/** One row of `XA RECOVER`, split back into gtrid and bqual. */
export function splitRecoveredXid(row: {
  formatID: number | string
  gtrid_length: number | string
  bqual_length: number | string
  data: Buffer | string
}): { formatId: number; gtrid: string; bqual: string } {
  const data = Buffer.isBuffer(row.data) ? row.data : Buffer.from(row.data, 'binary')
  const gtridLength = Number(row.gtrid_length)
  const bqualLength = Number(row.bqual_length)
  return {
    formatId: Number(row.formatID),
    gtrid: data.subarray(0, gtridLength).toString('utf8'),
    bqual: data.subarray(gtridLength, gtridLength + bqualLength).toString('utf8'),
  }
}
