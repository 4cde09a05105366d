import { createCluster } from '../src/index.js'
import { type LocalCluster, startLocalCluster } from '../src/testing/index.js'
import { createAccounts } from './transfer.js'

/**
 * The servers the W1 probes run on (bench:cpu, w1-server-cpu, promises-per-tx):
 * one PostgreSQL server (`pg-0`, the log shard) and one MariaDB server (`my-0`),
 * migrated, with the accounts table on each. `propagation: false` keeps this
 * setup from turning AsyncLocalStorage's promise hooks on for the whole process.
 */
export async function startTwoServerCluster(options: { durable: boolean; propagation?: boolean }): Promise<LocalCluster> {
  const local = await startLocalCluster({ postgres: 1, mysql: 1, durable: options.durable })
  try {
    const setup = createCluster({ shards: local.shards, log: 'pg-0', recovery: false, propagation: options.propagation ?? true })
    await setup.migrate()
    for (const id of setup.shardIds) await createAccounts(setup.forShard(id))
    await setup.close()
    return local
  } catch (error) {
    await local.destroy()
    throw error
  }
}
