import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Cluster,
  ClosedError,
  ConfigError,
  createCluster,
  ForbiddenStatementError,
  InvalidKeyError,
  ShardTxError,
  type StepHook,
  type Transaction,
  TransactionAbortedError,
  TransactionTimeoutError,
} from '../../src/index.js'
import { startAccountsCluster } from '../helpers/accounts-cluster.js'
import type { TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'
import { expectNothingLeaked, failureOf } from './leak-checks.js'

const BAD_KEYS: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['true', true],
  ['an object', { id: 1 }],
  ['an array', ['user', 1]],
  ['a fraction', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['2^53, past the safe integers', 2 ** 53],
  ['-(2^53)', -(2 ** 53)],
  ['a symbol', Symbol('key')],
  ['a function', () => 'key'],
  ['a Date', new Date(0)],
  ['a String object', new String('key')],
  ['a Uint16Array', new Uint16Array(2)],
  ['a Float64Array', new Float64Array(1)],
  ['a Uint8ClampedArray', new Uint8ClampedArray(1)],
  ['a DataView', new DataView(new ArrayBuffer(1))],
  ['an ArrayBuffer', new ArrayBuffer(1)],
]

describe('misuse', () => {
  let t: TestCluster
  let accounts: string
  beforeAll(async () => {
    ;({ t, accounts } = await startAccountsCluster())
  })
  afterAll(() => t.close())

  /** Another cluster over the same branch prefix and log, without recovery, optionally watching its steps. */
  function secondCluster(onStep?: StepHook): Cluster {
    return createCluster({ shards: sharedShards(), log: 'pg-0', prefix: t.prefix, logTable: t.logTable, recovery: false, onStep })
  }

  async function expectUntouched(): Promise<void> {
    for (const shardId of ['pg-0', 'pg-1', 'my-0', 'my-1']) expect((await t.balances(accounts, shardId)).get(1), shardId).toBe(100)
  }

  describe('bad shard keys', () => {
    it.each(BAD_KEYS)('shardFor(%s) throws InvalidKeyError saying what a key may be', (_, key) => {
      let error: unknown
      try {
        t.cluster.shardFor(key as never)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InvalidKeyError)
      expect((error as InvalidKeyError).message).toMatch(/^invalid shard key: /)
      expect((error as InvalidKeyError).message).toMatch(/string|integer|bigint|Uint8Array/)
    })

    it('accepts every kind of valid key, and routes equal keys alike', () => {
      for (const key of ['', 'user:1', 0, -0, 42, -42, 42n, 2n ** 64n, Number.MAX_SAFE_INTEGER, new Uint8Array(0), Buffer.from('x')]) {
        expect(t.cluster.shardIds).toContain(t.cluster.shardFor(key))
      }
      expect(t.cluster.shardFor(42)).toBe(t.cluster.shardFor('42'))
      expect(t.cluster.shardFor(42n)).toBe(t.cluster.shardFor('42'))
      expect(t.cluster.shardFor(Buffer.from('k'))).toBe(t.cluster.shardFor('k'))
    })

    it.each(BAD_KEYS)('tx.forKey(%s) fails the transaction with InvalidKeyError and rolls back what it wrote', async (_, key) => {
      const { error } = await failureOf(() =>
        t.cluster.transaction(async (tx) => {
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forKey(key as never)(accounts).select()
        }),
      )
      expect(error).toBeInstanceOf(InvalidKeyError)
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })
  })

  describe('what is not a function', () => {
    it.each([null, undefined, 'work', { run: () => 1 }])('refuses %j as the transaction callback with a ConfigError, before anything runs', async (work) => {
      const error = await t.cluster.transaction(work as never).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).message).toMatch(/^transaction\(work\): must be a function/)
      await expectNothingLeaked(t.cluster)
    })

    it.each(['afterCommit', 'afterRollback'] as const)('refuses a %s hook that is not a function when it is added, rolling back the transaction', async (method) => {
      const { error } = await failureOf(() =>
        t.cluster.transaction(async (tx) => {
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          tx[method](null as never)
        }),
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.message).toBe(`${method}(hook): must be a function, got null`)
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })
  })

  describe('a closed cluster', () => {
    it('refuses every call with ClosedError, and closing again is harmless', async () => {
      const closed = createCluster({ shards: sharedShards(), recovery: false })
      await closed.close()
      await closed.close()
      const sync: [string, () => unknown][] = [
        ['shardFor', () => closed.shardFor('k')],
        ['forShard', () => closed.forShard('pg-0')],
        ['table', () => closed.table('accounts')],
      ]
      for (const [name, call] of sync) expect(call, name).toThrow(ClosedError)
      const async: [string, () => unknown][] = [
        ['transaction', () => closed.transaction(async () => 1)],
        ['migrate', () => closed.migrate()],
        ['migrateShards', () => closed.migrateShards({ directory: '.' })],
        ['status', () => closed.status()],
        ['recover', () => closed.recover()],
        ['inDoubt', () => closed.inDoubt()],
        ['resolve', () => closed.resolve('0'.repeat(20), 'abort')],
      ]
      for (const [name, call] of async) {
        // Every method that returns a promise rejects; none throws at the call.
        let error: unknown
        const returned = call() as Promise<unknown>
        expect(returned, name).toBeInstanceOf(Promise)
        await returned.catch((e: unknown) => (error = e))
        expect(error, name).toBeInstanceOf(ClosedError)
        expect((error as ClosedError).message, name).toBe('cluster is closed')
      }
    })

    it('lets a transaction that runs while the cluster closes end with a typed error or commit, never hang', async () => {
      const closing = secondCluster()
      let wrote!: () => void
      const hasWritten = new Promise<void>((resolve) => (wrote = resolve))
      let beginClose!: () => void
      const closeBegun = new Promise<void>((resolve) => (beginClose = resolve))
      const running = closing
        .transaction(async (tx) => {
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
          wrote()
          // Goes on only once close() has begun: the rest runs while the cluster closes.
          await closeBegun
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard('my-0')(accounts).where({ id: 1 }).decrement('balance', 1)
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).decrement('balance', 1)
        })
        .then(
          () => 'committed',
          (e: unknown) => e,
        )
      await hasWritten
      const closed = closing.close()
      beginClose()
      await Promise.race([
        Promise.all([closed, running]),
        new Promise((_, reject) => setTimeout(() => reject(new Error('close or the transaction hung')), 15_000)),
      ])
      const outcome = await running
      // Not committed: the closed pool of the shard it touches next refused it, which it says as ClosedError.
      if (outcome !== 'committed') {
        expect(outcome).toBeInstanceOf(ClosedError)
        expect((outcome as ClosedError).retryable).toBe(false)
      }
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })

    it('ends every transaction close() overtook before its decision with ClosedError, with retry or without, and commits none', async () => {
      // pool.max 4: two transactions admitted at once, the others queued for admission.
      const closing = createCluster({
        shards: sharedShards().map((s) => ({ ...s, pool: { max: 4 } })),
        log: 'pg-0',
        prefix: t.prefix,
        logTable: t.logTable,
        recovery: false,
        timeouts: { recovery: 500 },
      })
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      let entered = 0
      let started = 0
      let bothIn!: () => void
      const twoRunning = new Promise<void>((resolve) => (bothIn = resolve))
      const outcomes = Array.from({ length: 6 }, (_, i) =>
        closing
          .transaction(
            async (tx) => {
              started++
              // The two admitted first write different shards, so neither waits for the other's row lock.
              await tx.forShard(i % 2 === 0 ? 'pg-0' : 'pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
              if (++entered === 2) bothIn()
              await gate
              await tx.forShard(i % 2 === 0 ? 'my-0' : 'my-1')(accounts).where({ id: 1 }).increment('balance', 1)
            },
            i % 2 === 0 ? { retry: { attempts: 5 } } : {},
          )
          .then(
            () => 'committed',
            (e: unknown) => e,
          ),
      )
      await twoRunning
      // close() waits timeouts.recovery for the connections the two running ones hold, then closes them.
      await closing.close()
      release()
      const settled = await Promise.all(outcomes)
      for (const outcome of settled) {
        expect(outcome).toBeInstanceOf(ClosedError)
        expect((outcome as ClosedError).retryable).toBe(false)
      }
      // The two that ran say what refused them; the four still queued when close() began never ran their callback.
      expect(settled.filter((o) => (o as ClosedError).cause instanceof ShardTxError)).toHaveLength(2)
      expect(started).toBe(2)
      await expectUntouched()
      expect(await t.preparedBranches()).toEqual([])
    })
  })

  describe('a finished transaction', () => {
    it.each(['committed', 'rolled back'])('refuses every use once %s', async (how) => {
      let kept: Transaction | undefined
      let builtInside: PromiseLike<unknown> | undefined
      await t.cluster
        .transaction(async (tx) => {
          kept = tx
          await tx.forShard('pg-0')(accounts).select()
          builtInside = tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          if (how === 'rolled back') throw new Error('roll back')
        })
        .catch(() => {})
      const tx = kept!
      expect(tx.state).toBe('finished')
      const uses: [string, () => unknown][] = [
        ['forShard', () => tx.forShard('pg-0')],
        ['forKey', () => tx.forKey('k')],
        ['table', () => tx.table('accounts')],
        ['afterCommit', () => tx.afterCommit(() => {})],
        ['afterRollback', () => tx.afterRollback(() => {})],
      ]
      for (const [name, use] of uses) expect(use, name).toThrow(ClosedError)
      // A builder made inside but run afterwards is refused before it reaches the server.
      await expect(builtInside!).rejects.toBeInstanceOf(ClosedError)
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })

    it('settles a statement the callback forgot to await: it ran inside the transaction, or was refused', async () => {
      let stray: Promise<unknown> | undefined
      await t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).increment('balance', 1)
        stray = Promise.resolve(tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1))
      })
      const outcome = await stray!.then(
        () => 'ran',
        (e: unknown) => e,
      )
      const myBalance = (await t.balances(accounts, 'my-1')).get(1)
      if (outcome === 'ran') expect(myBalance).toBe(101)
      else {
        expect(outcome).toBeInstanceOf(ClosedError)
        expect(myBalance).toBe(100)
      }
      expect((await t.balances(accounts, 'pg-1')).get(1)).toBe(101)
      await expectNothingLeaked(t.cluster)
      // Put the balances back for the other tests.
      await t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-1')(accounts).where({ id: 1 }).update({ balance: 100 })
        await tx.forShard('my-1')(accounts).where({ id: 1 }).update({ balance: 100 })
      })
    })
  })

  describe('transaction-control SQL', () => {
    it.each([
      ['pg-0', 'commit'],
      ['pg-0', "prepare transaction 'x'"],
      ['my-0', 'xa end'],
      ['my-0', 'select 1; commit'],
    ])('%s: "%s" is refused, the statements before it roll back, nothing is left', async (shardId, sql) => {
      const { error } = await failureOf(() =>
        t.cluster.transaction(async (tx) => {
          await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
          await tx.forShard(shardId).raw(sql)
        }),
      )
      expect(error).toBeInstanceOf(ForbiddenStatementError)
      expect(error.message).toContain(`shard ${shardId}`)
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })

    it('refuses a transaction-control statement the callback catches, and still commits the rest', async () => {
      await t.cluster.transaction(async (tx) => {
        await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
        await expect(tx.forShard('pg-0').raw('commit')).rejects.toBeInstanceOf(ForbiddenStatementError)
        await tx.forShard('pg-0')(accounts).where({ id: 1 }).decrement('balance', 1)
      })
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })
  })

  describe('a callback that never resolves', () => {
    it('is aborted at its timeout with a typed error, its branches rolled back and their connections returned', async () => {
      const { error } = await failureOf(() =>
        t.cluster.transaction(
          async (tx) => {
            await tx.forShard('pg-0')(accounts).where({ id: 1 }).increment('balance', 1)
            await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
            await new Promise(() => {})
          },
          { timeout: 300 },
        ),
      )
      expect(error).toBeInstanceOf(TransactionAbortedError)
      expect(error.cause).toBeInstanceOf(TransactionTimeoutError)
      expect(error.message).toMatch(/aborted: timed out after 300 ms/)
      await expectUntouched()
      await expectNothingLeaked(t.cluster)
    })
  })

  describe('a builder select that calls a writing function (a documented limit, docs/guarantees.md)', () => {
    it('is taken for a read: its write commits even though the transaction aborts', async () => {
      const audit = t.table('audit')
      const fn = `${audit}_write`
      const pg0 = t.cluster.forShard('pg-0')
      await pg0.schema.createTable(audit, (table) => table.integer('n'))
      await pg0.raw(`create function ${fn}() returns int language sql as 'insert into ${audit} values (1) returning n'`)
      const controller = new AbortController()
      const observed = secondCluster((event) => {
        if (event.step === 'prepare') controller.abort(new Error('stop'))
      })
      try {
        const { error } = await failureOf(() =>
          observed.transaction(
            async (tx) => {
              await tx.forShard('pg-0').select(tx.forShard('pg-0').raw(`${fn}()`))
              await tx.forShard('my-0')(accounts).where({ id: 1 }).increment('balance', 1)
              await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
            },
            { signal: controller.signal },
          ),
        )
        expect(error).toBeInstanceOf(TransactionAbortedError)
        await expectUntouched()
        expect(await pg0(audit).select('n')).toEqual([{ n: 1 }])
        await expectNothingLeaked(observed)
      } finally {
        await observed.close()
        await pg0.raw(`drop function if exists ${fn}()`)
        await pg0.schema.dropTableIfExists(audit)
      }
    })
  })

  describe('an AbortSignal fired mid-prepare', () => {
    it.each([
      ['log shard outside: both branches prepared', 'pg-1', 'my-1'],
      ['log shard inside: one branch prepared', 'pg-0', 'my-0'],
    ])('%s → aborted, rolled back everywhere, nothing left', async (_, a, b) => {
      const controller = new AbortController()
      const steps: string[] = []
      const observed = secondCluster((event) => {
        steps.push(event.step)
        if (event.step === 'prepare') controller.abort(new Error('the user went away'))
      })
      try {
        const { error } = await failureOf(() =>
          observed.transaction(
            async (tx) => {
              await tx.forShard(a)(accounts).where({ id: 1 }).increment('balance', 1)
              await tx.forShard(b)(accounts).where({ id: 1 }).increment('balance', 1)
            },
            { signal: controller.signal },
          ),
        )
        expect(steps).toContain('prepared')
        expect(steps).not.toContain('decide')
        expect(error).toBeInstanceOf(TransactionAbortedError)
        expect(error.message).toMatch(/aborted by its signal/)
        expect((error.cause as Error).cause).toEqual(new Error('the user went away'))
        await expectUntouched()
        await expectNothingLeaked(observed)
      } finally {
        await observed.close()
      }
    })
  })
})
