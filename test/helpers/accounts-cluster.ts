import type { ClusterOptions } from '../../src/index.js'
import { sharedShards } from '../support/shared-cluster.js'
import { startTestCluster, type TestCluster } from './test-cluster.js'

/**
 * A test cluster over the shared servers, its log on pg-0, with an `accounts`
 * table (id, balance) on all four shards, each holding row 1 at balance 100.
 *
 * ```ts
 * beforeAll(async () => {
 *   ;({ t, accounts } = await startAccountsCluster({ deadlockTimeout: false }))
 * })
 * ```
 */
export async function startAccountsCluster(options: Partial<ClusterOptions> = {}): Promise<{ t: TestCluster; accounts: string }> {
  const t = await startTestCluster(sharedShards(), { log: 'pg-0', ...options })
  const accounts = t.table('accounts')
  await t.createAccounts(accounts, ['pg-0', 'pg-1', 'my-0', 'my-1'], [{ id: 1, balance: 100 }])
  return { t, accounts }
}
