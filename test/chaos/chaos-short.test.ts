import { expect, it } from 'vitest'
import type { Cluster } from '../../src/index.js'
import { accountKey, BANK } from '../../scripts/chaos/bank.js'
import { chaosCommand, DEFAULT_CHAOS_OPTIONS, type ChaosOptions, randomSeed } from '../../scripts/chaos/chaos-options.js'
import { formatChaosReport, runChaos } from '../../scripts/chaos/run-chaos.js'
import type { TransferOutcomes } from '../../scripts/chaos/worker-pool.js'

const CLEAN = {
  balanceSumDrift: 0,
  misplacedAccounts: 0,
  splitTransfers: 0,
  misplacedLedgerRows: 0,
  balancesDisagreeingWithLedger: 0,
  acknowledgedMissing: 0,
  failedButCommitted: 0,
  preparedBranchesLeft: 0,
  commitRecordsLeft: 0,
}

/**
 * Damages the bank after the clean audit, one violation of each kind the audit
 * counts (each of the nine in CLEAN), so the test fails if the audit stops
 * seeing one of them.
 */
async function tamper(cluster: Cluster, outcomes: TransferOutcomes): Promise<void> {
  // An acknowledged transfer loses its credit row: split, missing, and a balance off its ledger.
  // Its payee must be none of the accounts damaged below (0, 1, 2), or two kinds of damage
  // would land on one account and the audit would rightly count one disagreeing balance.
  const acked = await ackedTransferPayingNoneOf(cluster, outcomes, [0, 1, 2])
  for (const shardId of cluster.shardIds) await cluster.forShard(shardId)(BANK.ledger).where({ transfer_id: acked, side: 'credit' }).delete()
  // Money appears from nowhere in one account.
  const rich = cluster.forShard(cluster.shardFor(accountKey(0)))
  await rich(BANK.accounts).where({ id: 0 }).increment('balance', 7)
  // A transfer whose caller saw it fail shows up committed (with amounts of 0, so balances still agree).
  const failed = 'tampered'
  outcomes.failed.set(failed, 'TransactionAbortedError')
  await rich(BANK.ledger).insert([
    { transfer_id: failed, side: 'debit', account: 0, amount: 0 },
    { transfer_id: failed, side: 'credit', account: 0, amount: 0 },
  ])
  // An account moves to a shard that does not own it (balance kept, so nothing else changes).
  const wrongShard = (owner: string) => cluster.shardIds.find((id) => id !== owner)!
  const moved = 1
  const owner = cluster.shardFor(accountKey(moved))
  const [account] = (await cluster.forShard(owner)(BANK.accounts).where({ id: moved }).select('id', 'balance')) as { id: number; balance: number }[]
  await cluster.forShard(owner)(BANK.accounts).where({ id: moved }).delete()
  await cluster.forShard(wrongShard(owner))(BANK.accounts).insert(account!)
  // A ledger row of another transfer moves to a shard that does not own its account.
  const ledgerOwner = cluster.shardFor(accountKey(2))
  const [row] = (await cluster.forShard(ledgerOwner)(BANK.ledger).whereNotIn('transfer_id', [acked, failed]).select('*').limit(1)) as Record<string, unknown>[]
  await cluster.forShard(ledgerOwner)(BANK.ledger).where({ transfer_id: row!.transfer_id, side: row!.side }).delete()
  await cluster.forShard(wrongShard(ledgerOwner))(BANK.ledger).insert(row!)
  // A commit record stays behind in the log, and a prepared branch on a shard.
  await cluster.forShard('pg-0')(BANK.logTable).insert({ tx_id: 'tampered', decision: 'commit', participants: 'pg-1', created_at: 0 })
  const pg1 = cluster.forShard('pg-1')
  const conn = (await pg1.client.acquireConnection()) as { query(sql: string): Promise<unknown> }
  await conn.query('BEGIN')
  await conn.query(`PREPARE TRANSACTION '${BANK.prefix}tampered'`)
  await pg1.client.releaseConnection(conn)
}

/** An acknowledged transfer whose credit went to none of `accounts`. */
async function ackedTransferPayingNoneOf(cluster: Cluster, outcomes: TransferOutcomes, accounts: number[]): Promise<string> {
  const acknowledged = new Set(outcomes.acknowledged)
  for (const shardId of cluster.shardIds) {
    const credits = (await cluster.forShard(shardId)(BANK.ledger).where({ side: 'credit' }).whereNotIn('account', accounts).select('transfer_id')) as { transfer_id: string }[]
    const found = credits.find((row) => acknowledged.has(row.transfer_id))
    if (found !== undefined) return found.transfer_id
  }
  throw new Error(`no acknowledged transfer paid an account other than ${accounts.join(', ')}`)
}

/**
 * The short CI version of `npx tsx scripts/chaos.ts`: a 25 s run with 2 workers,
 * coordinator and shard-server SIGKILLs, then the full audit. The seed comes from
 * SHARDTX_CHAOS_SEED when set, so a CI failure can be replayed exactly.
 */
it('loses nothing and splits nothing while workers and shard servers are SIGKILLed', async () => {
  const seed = process.env.SHARDTX_CHAOS_SEED === undefined ? randomSeed() : Number(process.env.SHARDTX_CHAOS_SEED) >>> 0
  const options: ChaosOptions = {
    ...DEFAULT_CHAOS_OPTIONS,
    seed,
    durationMs: 25_000,
    workers: 2,
    concurrency: 4,
    accounts: 200,
    // A worker takes seconds to start on a busy machine: kill each one every ~10 s, not faster.
    coordinatorKillEveryMs: 5_000,
    shardKillEveryMs: 3_000,
    shardDownMs: { min: 200, max: 1_000 },
    timeoutMs: 2_000,
    recovery: { intervalMs: 500, graceMs: 500 },
  }
  const report = await runChaos(options, () => {}, { tamper })
  const text = formatChaosReport(report, chaosCommand(options))
  console.log(text)
  // Printed in full on failure: the seed and the replay command come first.
  expect(report.audit.violations, text).toEqual(CLEAN)
  expect(report.passed, text).toBe(true)
  expect(report.unexpectedWorkerExits, text).toEqual([])
  // The run did what it claims: work got done and crashes of both kinds were injected.
  // How much work a fixed-length run gets done depends on the machine's load, so only
  // "some" is asserted; the audit above is what judges it.
  expect(report.acknowledged, text).toBeGreaterThan(0)
  expect(report.coordinatorKills, text).toBeGreaterThanOrEqual(1)
  expect(report.shardKillTotal, text).toBeGreaterThanOrEqual(1)
  expect(report.networkFaultTotal, text).toBeGreaterThanOrEqual(1)
  // A kill landed mid-protocol: some branch was left prepared for recovery to settle,
  // in the workers' background rounds or in the final one.
  const recovered = report.workerStats.recoveredCommitted + report.workerStats.recoveredRolledBack
    + report.finalRecovery.committed + report.finalRecovery.rolledBack
  expect(recovered, text).toBeGreaterThanOrEqual(1)
  // And the audit would have seen each kind of damage.
  expect(report.tamperedAudit?.violations, text).toEqual({
    ...CLEAN,
    balanceSumDrift: 7,
    misplacedAccounts: 1,
    splitTransfers: 1,
    misplacedLedgerRows: 1,
    balancesDisagreeingWithLedger: 2,
    acknowledgedMissing: 1,
    failedButCommitted: 1,
    preparedBranchesLeft: 1,
    commitRecordsLeft: 1,
  })
}, 90_000)
