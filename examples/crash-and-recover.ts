/**
 * A coordinator process dies right after its commit decision, before it could
 * commit its branches. Another process finds the branches in doubt, reads the
 * decision from the log and commits them: the transfer ends all-or-nothing.
 *
 * Run it: `npx tsx examples/crash-and-recover.ts`
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createCluster, type ShardConfig } from '../src/index.js'
import { startLocalCluster } from '../src/testing/index.js'

if (process.argv[2] === 'coordinator') {
  // The child: one transfer, frozen for good at the step after the decision.
  const shards = JSON.parse(process.argv[3]!) as ShardConfig[]
  const cluster = createCluster({
    shards,
    log: 'pg-0',
    recovery: false,
    onStep: async ({ step }) => {
      if (step !== 'decided') return
      console.log('coordinator: decision written; now crashing before COMMIT PREPARED')
      process.stdout.write('DECIDED\n')
      await new Promise(() => {})
    },
  })
  await cluster.transaction(async (tx) => {
    console.log(`coordinator: transaction ${tx.id}`)
    await tx.forShard('pg-1')('accounts').where({ id: 1 }).decrement('balance', 25)
    await tx.forShard('my-0')('accounts').where({ id: 1 }).increment('balance', 25)
  })
} else {
  const local = await startLocalCluster({ postgres: 2, mysql: 1 })
  const cluster = createCluster({ shards: local.shards, log: 'pg-0', recovery: { enabled: false, graceMs: 0 } })
  try {
    await cluster.migrate()
    for (const id of ['pg-1', 'my-0']) {
      await cluster.forShard(id).schema.createTable('accounts', (t) => {
        t.integer('id').primary()
        t.integer('balance')
      })
      await cluster.forShard(id)('accounts').insert({ id: 1, balance: 100 })
    }

    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'coordinator', JSON.stringify(local.shards)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      process.stdout.write(text.replace('DECIDED\n', ''))
      if (text.includes('DECIDED')) child.kill('SIGKILL')
    })
    await new Promise((resolve) => child.on('exit', resolve))
    console.log('parent: the coordinator was SIGKILLed')

    const balances = async (): Promise<string> => {
      const [a] = await cluster.forShard('pg-1')('accounts').where({ id: 1 })
      const [b] = await cluster.forShard('my-0')('accounts').where({ id: 1 })
      return `pg-1 balance ${a.balance}, my-0 balance ${b.balance}`
    }
    console.log('parent: in doubt now:', await cluster.inDoubt())
    console.log(`parent: before recovery: ${await balances()}`)
    const report = await cluster.recover()
    console.log('parent: recovery committed', report.committed, 'forgot', report.forgotten, 'commit record(s)')
    console.log(`parent: after recovery:  ${await balances()}`)
  } finally {
    await cluster.close()
    await local.destroy()
  }
}
