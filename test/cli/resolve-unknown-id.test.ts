import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, NoSuchInDoubtTransactionError, ShardTxError } from '../../src/index.js'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'
import { runInProcess } from './in-process-cli.js'

describe('resolve of an id that no shard holds and the log does not know', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-resolve-'))
  const config = join(dir, 'shardtx.config.json')
  let t: TestCluster
  const shardtx = (...args: string[]) => runInProcess([...args, '--config', config], dir)
  /** An id as a coordinator would make it, long past its deadline: nothing holds it. */
  const unknownId = (): string => newTransactionId(Date.now() - 60_000, 1_000)

  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
    writeFileSync(config, JSON.stringify({ shards: sharedShards(), prefix: t.prefix, logTable: t.logTable, recovery: false }))
  })
  afterAll(async () => {
    await t?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('cluster.resolve() rejects it with NoSuchInDoubtTransactionError and writes nothing', async () => {
    const txId = unknownId()
    for (const decision of ['abort', 'commit'] as const) {
      const error = await t.cluster.resolve(txId, decision).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(NoSuchInDoubtTransactionError)
      expect(error).toMatchObject({ code: 'NO_SUCH_TRANSACTION', txId, retryable: false })
      expect((error as Error).message).toMatch(/^no such in-doubt transaction: /)
    }
    expect((await t.logRecords()).filter((r) => r.tx_id === txId)).toEqual([])
  })

  it('the CLI exits 1 with "no such in-doubt transaction", in text and in --json, and writes nothing', async () => {
    const txId = unknownId()
    const [text, json] = await Promise.all([shardtx('resolve', txId, 'abort'), shardtx('resolve', txId, 'abort', '--json')])
    expect(text.code).toBe(1)
    expect(text.stderr).toContain(`no such in-doubt transaction: ${txId}`)
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'NO_SUCH_TRANSACTION', message: expect.stringContaining('no such in-doubt transaction'), exitCode: 1 },
    })
    expect((await t.logRecords()).filter((r) => r.tx_id === txId)).toEqual([])
  })

  it('--force fences it: an abort record stands, so that transaction can never commit', async () => {
    const txId = unknownId()
    const forced = await shardtx('resolve', txId, 'abort', '--force')
    expect(forced.code).toBe(0)
    expect((await t.logRecords()).filter((r) => r.tx_id === txId)).toEqual([expect.objectContaining({ decision: 'abort' })])
    // Known now, by its abort record: a second abort needs no force, a commit is refused.
    expect((await shardtx('resolve', txId, 'abort')).code).toBe(0)
    const commit = await t.cluster.resolve(txId, 'commit').catch((e: unknown) => e)
    expect(commit).toBeInstanceOf(ShardTxError)
    expect(commit).toMatchObject({ code: 'CONTRADICTS_DECISION' })
  })

  it('the library takes { force: true } too, and refuses a force that is not a boolean', async () => {
    const txId = unknownId()
    await expect(t.cluster.resolve(txId, 'abort', { force: 'yes' as never })).rejects.toBeInstanceOf(ConfigError)
    await t.cluster.resolve(txId, 'abort', { force: true })
    expect((await t.logRecords()).filter((r) => r.tx_id === txId)).toEqual([expect.objectContaining({ decision: 'abort' })])
  })
})
