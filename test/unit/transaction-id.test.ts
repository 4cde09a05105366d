import { describe, expect, it } from 'vitest'
import { branchIdOf, parseBranchGid, parseBranchXid, XA_FORMAT_ID } from '../../src/protocol/ids/branch-id.js'
import { newTransactionId, parseTransactionId, TRANSACTION_ID_LENGTH } from '../../src/protocol/ids/transaction-id.js'

describe('transaction ids', () => {
  it('carry the start time and timeout', () => {
    const id = newTransactionId(1_764_000_000_123, 10_500)
    expect(id).toHaveLength(TRANSACTION_ID_LENGTH)
    expect(parseTransactionId(id)).toEqual({ startedAt: 1_764_000_000_123, timeoutMs: 11_000, deadline: 1_764_000_011_123 })
  })

  it('are unique', () => {
    const ids = new Set(Array.from({ length: 50_000 }, () => newTransactionId(Date.now(), 1000)))
    expect(ids.size).toBe(50_000)
  })

  it('refuse text that is not one', () => {
    expect(parseTransactionId('hello')).toBeUndefined()
    expect(parseTransactionId('A'.repeat(20))).toBeUndefined()
  })

  it('name branches that parse back, within the servers limits', () => {
    const txId = newTransactionId(Date.now(), 1000)
    const longShard = 's'.repeat(64)
    const branch = branchIdOf('p'.repeat(24), txId, longShard)
    expect(Buffer.byteLength(branch.gid)).toBeLessThanOrEqual(199)
    expect(Buffer.byteLength(branch.gtrid)).toBeLessThanOrEqual(64)
    expect(Buffer.byteLength(branch.bqual)).toBeLessThanOrEqual(64)
    expect(parseBranchGid('p'.repeat(24), branch.gid)).toEqual({ txId, shardId: longShard })
    expect(parseBranchXid('p'.repeat(24), XA_FORMAT_ID, branch.gtrid, branch.bqual)).toEqual({ txId, shardId: longShard })
    expect(parseBranchXid('p'.repeat(24), 1, branch.gtrid, branch.bqual)).toBeUndefined()
    expect(parseBranchGid('other_', branch.gid)).toBeUndefined()
  })
})
