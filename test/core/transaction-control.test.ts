import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ForbiddenStatementError } from '../../src/index.js'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

const REFUSED = {
  'pg-0': ['begin', 'COMMIT', 'rollback', 'end', 'abort', 'start transaction', "prepare transaction 'x'", "commit prepared 'x'",
    'set session characteristics as transaction read only', 'select 1; commit', '/* hi */ ROLLBACK'],
  'my-0': ['begin', 'commit work', 'rollback', 'start transaction', "xa start 'x'", 'xa end', 'set autocommit = 0',
    'SET @@session.autocommit=1', 'lock tables t write', 'unlock tables', 'select 1; commit', '/*!40101 commit */'],
} as const

const ALLOWED = {
  'pg-0': ["select 'commit' as word", 'savepoint s1; rollback to savepoint s1; release savepoint s1', "select $$ commit $$ as x", 'set local lock_timeout = 1000'],
  'my-0': ["select 'commit' as word", 'savepoint s1; rollback to savepoint s1; release savepoint s1', 'select 1 -- commit', 'set @x = 1'],
} as const

describe('transaction-control SQL on a branch', () => {
  let t: TestCluster
  beforeAll(async () => {
    t = await startTestCluster(sharedShards())
  })
  afterAll(() => t.close())

  for (const shardId of ['pg-0', 'my-0'] as const) {
    it.each(REFUSED[shardId])(`${shardId} refuses %s before sending it`, async (sql) => {
      const error = await t.cluster.transaction((tx) => tx.forShard(shardId).raw(sql)).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ForbiddenStatementError)
      expect((error as ForbiddenStatementError).shardId).toBe(shardId)
    })

    it(`${shardId} runs statements that only look like transaction control`, async () => {
      await t.cluster.transaction(async (tx) => {
        for (const sql of ALLOWED[shardId]) await tx.forShard(shardId).raw(sql)
      })
    })
  }
})
