import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { branchIdOf } from '../../src/protocol/ids/branch-id.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import type { Participant } from '../../src/protocol/participant.js'
import { Branch } from '../../src/transaction/branch.js'
import { participantFor } from '../helpers/participant-for.js'
import { sharedShards } from '../support/shared-cluster.js'

/**
 * A branch owns its end of life: whatever move ends it, it is `finished`
 * afterwards and its connection is pooled or closed, never both, never twice.
 */
describe('a branch whose COMMIT PREPARED fails', () => {
  const prefix = `bl${randomBytes(3).toString('hex')}_`
  let participant: Participant

  beforeAll(() => {
    participant = participantFor(sharedShards('postgres')[0]!, prefix)
  })
  afterAll(async () => {
    await participant?.close()
  })

  it('is finished, its connection closed, and a later rollback does not touch that connection', async () => {
    const id = branchIdOf(prefix, newTransactionId(Date.now(), 10_000), participant.shardId)
    const branch = new Branch({ assertAcceptsStatements() {}, abortReason: undefined, waitLabel: () => undefined }, participant, id, {})
    await branch.knex.raw('select 1')
    await branch.prepare(10_000)
    expect(branch.state).toBe('prepared')

    // Another session finishes the prepared branch first (PostgreSQL lets any session),
    // so this branch's own COMMIT PREPARED fails with a server error.
    const other = await participant.acquire()
    try {
      await participant.commitPrepared(other, id)
    } finally {
      participant.release(other)
    }
    await expect(branch.commitPrepared(10_000)).rejects.toThrow()

    // Its connection was closed rather than pooled; the branch must not still claim to
    // be prepared, or a rollback would run on the closed connection.
    expect(branch.state).toBe('finished')
    expect(branch.leavePreparedToRecovery()).toBe(false)
    await expect(branch.rollback(10_000)).resolves.toBe(false)
    expect((await participant.listPrepared()).map((b) => b.txId)).not.toContain(id.txId)
  })
})
