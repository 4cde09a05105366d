import { afterAll, beforeAll } from 'vitest'
import { startTestCluster, type TestCluster } from '../helpers/test-cluster.js'
import { sharedShards } from '../support/shared-cluster.js'

/** A test cluster (log on pg-0) with an accounts table holding row 1 (balance 100) on pg-1 and my-1, for one file. */
export function accountsCluster(): { readonly t: TestCluster; readonly accounts: string } {
  const state = {} as { t: TestCluster; accounts: string }
  beforeAll(async () => {
    state.t = await startTestCluster(sharedShards(), { log: 'pg-0' })
    state.accounts = state.t.table('accounts')
    await state.t.createAccounts(state.accounts, ['pg-1', 'my-1'], [{ id: 1, balance: 100 }])
  })
  afterAll(() => state.t.close())
  return state
}
