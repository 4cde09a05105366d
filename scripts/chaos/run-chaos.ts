import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Cluster, createCluster } from '../../src/index.js'
import { startLocalCluster } from '../../src/testing/index.js'
import { auditBank, type BankAudit, type FinalRecovery, recoverUntilSettled } from './bank-audit.js'
import { BANK, createBank, type WorkerStats } from './bank.js'
import { ChaosLoop, type ChaosEvent } from './chaos-loop.js'
import type { ChaosOptions } from './chaos-options.js'
import { type TransferOutcomes, WorkerPool } from './worker-pool.js'

/** Everything a chaos run measured; `passed` when every violation count is 0. */
export interface ChaosReport {
  options: ChaosOptions
  passed: boolean
  underFireMs: number
  acknowledged: number
  failed: number
  failedByError: Record<string, number>
  inDoubtForCaller: number
  coordinatorKills: number
  shardKills: Record<string, number>
  shardKillTotal: number
  injectedCrashes: number
  /** Network faults injected, by kind: paths black-holed and reset. */
  networkFaults: { blackhole: number; reset: number }
  networkFaultTotal: number
  restartFailures: number
  unexpectedWorkerExits: WorkerPool['unexpectedExits']
  workerStats: WorkerStats
  finalRecovery: FinalRecovery
  audit: BankAudit
  /** The audit again after `tamper` ran, when it was given: proof that the audit sees each kind of damage. */
  tamperedAudit: BankAudit | undefined
  runDir: string | undefined
  /** The last chaos events, when the run failed. */
  timeline: ChaosEvent[]
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The chaos bank test: starts 2 PostgreSQL + 2 MariaDB throwaway servers, creates
 * the bank, runs the workers under the chaos loop for `durationMs`, then brings
 * everything back, recovers until settled and audits every shard.
 * Leaves no server or worker process behind, whatever happens.
 */
export async function runChaos(
  options: ChaosOptions,
  say: (line: string) => void = () => {},
  hooks: { tamper?: (cluster: Cluster, outcomes: TransferOutcomes) => Promise<void> } = {},
): Promise<ChaosReport> {
  const runDir = mkdtempSync(join(tmpdir(), 'shardtx-chaos-'))
  // With network faults, every shard is reached through a fault proxy (shardtx/testing).
  const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: options.durable, faults: options.networkFaultEveryMs > 0 })
  let pool: WorkerPool | undefined
  let passed = false
  const onExit = (): void => pool?.killAll()
  process.on('exit', onExit)
  try {
    const clusterOptions = { shards: local.shards, log: options.log, prefix: BANK.prefix, logTable: BANK.logTable }
    const setup = createCluster({ ...clusterOptions, recovery: false })
    await createBank(setup, options.accounts, options.initialBalance)
    await setup.close()

    pool = new WorkerPool(
      {
        shards: local.shards,
        log: options.log,
        seed: options.seed,
        accounts: options.accounts,
        concurrency: options.concurrency,
        timeoutMs: options.timeoutMs,
        lockTimeoutMs: options.lockTimeoutMs,
        recovery: options.recovery,
      },
      options.workers,
      runDir,
    )
    await pool.start()
    say(`  workers up; chaos for ${(options.durationMs / 1000).toFixed(0)} s`)
    if (options.verbose) say(`  servers: ${local.shards.map((s) => `${s.id} 127.0.0.1:${local.server(s.id).port}`).join(', ')}`)

    const chaos = new ChaosLoop(options, pool, local, say)
    const started = Date.now()
    chaos.start()
    while (Date.now() - started < options.durationMs) {
      await sleep(Math.min(5_000, options.durationMs - (Date.now() - started)))
      if (options.verbose) {
        say(
          `  ${((Date.now() - started) / 1000).toFixed(0)}s: ${pool.outcomes.acknowledged.size} acknowledged, ` +
            `${pool.kills} worker kills, ${chaos.shardKillCount} shard kills, ${chaos.networkFaultCount} network faults, ` +
            `down: ${chaos.down.join(' ') || '-'}\n    ${pool.describeLive()}`,
        )
      }
    }
    await chaos.stop()
    const underFireMs = Date.now() - started
    say('  chaos stopped; every shard is up; stopping workers')
    await pool.stopAll()

    say('  final recovery')
    const final = createCluster({ ...clusterOptions, recovery: { enabled: false, graceMs: options.recovery.graceMs } })
    try {
      const limitMs = options.timeoutMs + options.recovery.graceMs + 60_000
      const finalRecovery = await recoverUntilSettled(final, options.log, limitMs)
      const bank = { accounts: options.accounts, initialBalance: options.initialBalance, logShard: options.log }
      const audit = await auditBank(final, bank, pool.outcomes)
      let tamperedAudit: BankAudit | undefined
      if (hooks.tamper !== undefined) {
        await hooks.tamper(final, pool.outcomes)
        tamperedAudit = await auditBank(final, bank, pool.outcomes)
      }
      passed = Object.values(audit.violations).every((n) => n === 0)
      const failedByError: Record<string, number> = {}
      for (const error of pool.outcomes.failed.values()) failedByError[error] = (failedByError[error] ?? 0) + 1
      const shardKills = Object.fromEntries(chaos.shardKills)
      return {
        options,
        passed,
        underFireMs,
        acknowledged: pool.outcomes.acknowledged.size,
        failed: pool.outcomes.failed.size,
        failedByError,
        inDoubtForCaller: pool.outcomes.inDoubt.size,
        coordinatorKills: pool.kills,
        shardKills,
        shardKillTotal: chaos.shardKillCount,
        injectedCrashes: pool.kills + chaos.shardKillCount,
        networkFaults: { ...chaos.networkFaults },
        networkFaultTotal: chaos.networkFaultCount,
        restartFailures: chaos.restartFailures,
        unexpectedWorkerExits: pool.unexpectedExits,
        workerStats: pool.stats(),
        finalRecovery,
        audit,
        tamperedAudit,
        runDir: passed && !options.keep ? undefined : runDir,
        timeline: passed ? [] : chaos.events.slice(-40),
      }
    } finally {
      await final.close()
    }
  } finally {
    pool?.killAll()
    process.removeListener('exit', onExit)
    await local.destroy()
    if (passed && !options.keep) rmSync(runDir, { recursive: true, force: true })
  }
}

/** The figures of a run, as printed by scripts/chaos.ts. */
export function formatChaosReport(report: ChaosReport, command: string): string {
  const { options: o, audit, finalRecovery: f, workerStats: w } = report
  const pad = (label: string): string => `  ${label}`.padEnd(42)
  const kills = Object.entries(report.shardKills).map(([id, n]) => `${id} ${n}`).join(', ')
  const failures = Object.entries(report.failedByError).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(', ')
  const lines = [
    `shardtx chaos bank test, seed ${o.seed}`,
    `  replay: ${command}`,
    `  2 PostgreSQL + 2 MariaDB servers, ${o.durable ? 'durable (fsync on)' : 'fsync off'}, log shard ${o.log}`,
    `  ${o.workers} workers x ${o.concurrency} transfers in flight, ${o.accounts} accounts, timeout ${o.timeoutMs} ms, ` +
      `lock timeout ${o.lockTimeoutMs} ms, recovery every ${o.recovery.intervalMs} ms (grace ${o.recovery.graceMs} ms)`,
    `${pad('under fire')}${(report.underFireMs / 1000).toFixed(1)} s`,
    `${pad('transfers acknowledged')}${report.acknowledged}`,
    `${pad('transfers failed for their caller')}${report.failed}${failures ? ` (${failures})` : ''}`,
    `${pad('transfers in doubt for their caller')}${report.inDoubtForCaller} (committed ${audit.inDoubtCommitted}, rolled back ${audit.inDoubtRolledBack})`,
    `${pad('transfers committed (ledger)')}${audit.committedTransfers} (of which in flight in a killed worker: ${audit.unreportedCommitted})`,
    `${pad('commits seen by workers')}one-phase ${w.onePhase}, two-phase ${w.twoPhase}, commit phase left to recovery ${w.commitPhaseIncomplete}`,
    `${pad('coordinator kills')}${report.coordinatorKills}`,
    `${pad('shard kills')}${report.shardKillTotal}${kills ? ` (${kills})` : ''}`,
    `${pad('injected crashes')}${report.injectedCrashes}`,
    `${pad('network faults')}${report.networkFaultTotal} (blackhole ${report.networkFaults.blackhole}, reset ${report.networkFaults.reset})`,
    `${pad('unexpected worker exits')}${report.unexpectedWorkerExits.length}`,
    `${pad('background recovery (workers)')}committed ${w.recoveredCommitted}, rolled back ${w.recoveredRolledBack} branches`,
    `${pad('final recovery rounds')}${f.rounds} in ${(f.ms / 1000).toFixed(1)} s (committed ${f.committed}, rolled back ${f.rolledBack}, forgot ${f.forgotten} commit records)`,
    `  violations (all must be 0):`,
    `${pad('  sum of balances drift')}${audit.violations.balanceSumDrift} (expected ${audit.expectedTotal}, found ${audit.actualTotal})`,
    `${pad('  transfers on one shard only')}${audit.violations.splitTransfers}`,
    `${pad('  balances disagreeing with ledger')}${audit.violations.balancesDisagreeingWithLedger}`,
    `${pad('  misplaced accounts / ledger rows')}${audit.violations.misplacedAccounts} / ${audit.violations.misplacedLedgerRows}`,
    `${pad('  acknowledged transfers missing')}${audit.violations.acknowledgedMissing}`,
    `${pad('  failed transfers committed anyway')}${audit.violations.failedButCommitted}`,
    `${pad('  prepared branches left')}${audit.violations.preparedBranchesLeft}`,
    `${pad('  commit records left in the log')}${audit.violations.commitRecordsLeft}`,
    `RESULT: ${report.passed ? 'PASS' : 'FAIL'}`,
  ]
  if (!report.passed) {
    lines.push('  examples:', ...audit.examples.map((e) => `    ${e}`))
    lines.push('  last chaos events:', ...report.timeline.map((e) => `    ${(e.atMs / 1000).toFixed(2)}s ${e.what}`))
  }
  if (report.unexpectedWorkerExits.length > 0) {
    lines.push('  unexpected worker exits:')
    for (const e of report.unexpectedWorkerExits.slice(0, 5)) {
      lines.push(`    worker ${e.slot}.${e.incarnation}: code ${e.code} signal ${e.signal}: ${e.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    }
  }
  if (report.runDir !== undefined) lines.push(`  run directory (acks.log, workers.stderr): ${report.runDir}`)
  return lines.join('\n')
}
