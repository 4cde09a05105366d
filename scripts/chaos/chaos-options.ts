/**
 * What one chaos run does: how long, how hard, and how often it kills what.
 *
 * ```ts
 * const options = parseChaosFlags(['--duration', '60s', '--seed', '7'])
 * ```
 */
export interface ChaosOptions {
  /** How long transfers run under fire, in ms. */
  durationMs: number
  /** Worker (coordinator) processes. */
  workers: number
  /** Transfers each worker runs at once. */
  concurrency: number
  /** Seed of the chaos schedule and the workers' transfers. */
  seed: number
  /** Accounts, spread over the shards by the ring. */
  accounts: number
  /** Starting balance of every account. */
  initialBalance: number
  /** Mean gap between coordinator (worker) SIGKILLs in ms; 0 turns them off. */
  coordinatorKillEveryMs: number
  /** Mean gap between shard server SIGKILLs in ms; 0 turns them off. */
  shardKillEveryMs: number
  /** How long a killed shard server stays down before its restart, in ms (uniform in [min, max]). */
  shardDownMs: { min: number; max: number }
  /** At most this many shard servers down at once. */
  maxShardsDown: number
  /**
   * Mean gap between network faults in ms: a shard's path black-holed (bytes dropped,
   * sockets open) or reset (connections get a TCP RST) through the fault proxy of
   * shardtx/testing; 0 turns them off.
   */
  networkFaultEveryMs: number
  /** How long a network fault lasts before the path heals, in ms (uniform in [min, max]). */
  networkDownMs: { min: number; max: number }
  /** Transaction timeout of the workers, in ms: recovery judges a transaction abandoned after it plus the grace. */
  timeoutMs: number
  /** Lock wait limit of every branch, in ms (MariaDB rounds it up to whole seconds). */
  lockTimeoutMs: number
  /** Background recovery of every worker. */
  recovery: { intervalMs: number; graceMs: number }
  /** Shard holding the transaction log. */
  log: string
  /** fsync on (the servers' durable defaults). */
  durable: boolean
  /** Keep the run directory (acks file, worker logs) even when the run passes. */
  keep: boolean
  /** Print progress lines while the run goes. */
  verbose: boolean
  /**
   * Resharding under fire: a fifth server (MariaDB, my-2) and a mover process that
   * grows the bank's 4 shards to 5 and shrinks them back, again and again, while
   * it is itself SIGKILLed now and then; the audit then also wants every row on
   * its owner and every job finished.
   */
  reshard: boolean
  /** Mean gap between mover SIGKILLs in ms (with `reshard`); 0 turns them off. */
  moverKillEveryMs: number
}

export const DEFAULT_CHAOS_OPTIONS: ChaosOptions = {
  durationMs: 60_000,
  workers: 4,
  concurrency: 8,
  seed: 0,
  accounts: 1_000,
  initialBalance: 1_000,
  coordinatorKillEveryMs: 3_000,
  shardKillEveryMs: 4_000,
  shardDownMs: { min: 200, max: 2_000 },
  maxShardsDown: 1,
  networkFaultEveryMs: 4_000,
  networkDownMs: { min: 200, max: 3_000 },
  timeoutMs: 3_000,
  lockTimeoutMs: 1_000,
  recovery: { intervalMs: 1_000, graceMs: 1_000 },
  log: 'pg-0',
  durable: true,
  keep: false,
  verbose: false,
  reshard: false,
  moverKillEveryMs: 10_000,
}

export const CHAOS_HELP = `Usage: npx tsx scripts/chaos.ts [flags]

Chaos bank test: 2 PostgreSQL + 2 MariaDB throwaway servers (fsync on), worker
processes running random transfers through shardtx, and a seeded chaos loop that
SIGKILLs workers and shard servers and restarts them, and black-holes or resets
shards' network paths for a while. Exits 1 on any violation.

  --duration <t>           time under fire (default 60s; e.g. 90s, 8m, 20000ms)
  --workers <n>            worker processes (default 4)
  --concurrency <n>        transfers in flight per worker (default 8)
  --seed <n>               seed of the schedule and the transfers (default: random, printed)
  --accounts <n>           accounts (default 1000)
  --coordinator-kill <t>   mean gap between worker SIGKILLs (default 3s; 0 = never)
  --shard-kill <t>         mean gap between shard server SIGKILLs (default 4s; 0 = never)
  --shard-down <t>..<t>    downtime of a killed shard before its restart (default 200ms..2s)
  --max-down <n>           shard servers down at once at most (default 1)
  --network-fault <t>      mean gap between network faults, black hole or reset (default 4s; 0 = never)
  --network-down <t>..<t>  how long a network fault lasts before it heals (default 200ms..3s)
  --timeout <t>            transaction timeout (default 3s)
  --lock-timeout <t>       lock wait limit (default 1s)
  --recovery-interval <t>  background recovery interval of each worker (default 1s)
  --grace <t>              recovery grace past a transaction's deadline (default 1s)
  --log <shard>            log shard: pg-0, pg-1, my-0 or my-1 (default pg-0)
  --no-durable             fsync off (faster; kills still lose nothing committed)
  --keep                   keep the run directory (acks file, worker stderr)
  --verbose                print progress every 5 s
  --reshard                add a fifth server (MariaDB, my-2) and a mover process that grows the
                           4 shards to 5 and shrinks them back (a reshard to the old set, or a
                           reverse, in turn) while it is SIGKILLed at random; the audit also
                           wants every row on its owner and every job finished (default off)
  --mover-kill <t>         mean gap between mover SIGKILLs, with --reshard (default 10s; 0 = never)
`

/** Parses command-line flags over the defaults; throws with a clear message on a bad one. */
export function parseChaosFlags(argv: readonly string[], defaults: ChaosOptions = DEFAULT_CHAOS_OPTIONS): ChaosOptions {
  const options: ChaosOptions = {
    ...defaults,
    shardDownMs: { ...defaults.shardDownMs },
    networkDownMs: { ...defaults.networkDownMs },
    recovery: { ...defaults.recovery },
  }
  options.seed = randomSeed()
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case '--duration': options.durationMs = duration(flag, value()); break
      case '--workers': options.workers = integer(flag, value(), 1); break
      case '--concurrency': options.concurrency = integer(flag, value(), 1); break
      case '--seed': options.seed = integer(flag, value(), 0) >>> 0; break
      case '--accounts': options.accounts = integer(flag, value(), 2); break
      case '--coordinator-kill': options.coordinatorKillEveryMs = duration(flag, value(), true); break
      case '--shard-kill': options.shardKillEveryMs = duration(flag, value(), true); break
      case '--shard-down': options.shardDownMs = range(flag, value()); break
      case '--max-down': options.maxShardsDown = integer(flag, value(), 1); break
      case '--network-fault': options.networkFaultEveryMs = duration(flag, value(), true); break
      case '--network-down': options.networkDownMs = range(flag, value()); break
      case '--timeout': options.timeoutMs = duration(flag, value()); break
      case '--lock-timeout': options.lockTimeoutMs = duration(flag, value()); break
      case '--recovery-interval': options.recovery.intervalMs = duration(flag, value()); break
      case '--grace': options.recovery.graceMs = duration(flag, value(), true); break
      case '--log': options.log = shardId(flag, value()); break
      case '--no-durable': options.durable = false; break
      case '--keep': options.keep = true; break
      case '--verbose': options.verbose = true; break
      case '--reshard': options.reshard = true; break
      case '--mover-kill': options.moverKillEveryMs = duration(flag, value(), true); break
      default: throw new Error(`unknown flag ${flag}; see --help`)
    }
  }
  return options
}

/** The command that replays a run with exactly these options. */
export function chaosCommand(o: ChaosOptions): string {
  const ms = (n: number): string => (n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`)
  const flags = [
    `--seed ${o.seed}`,
    `--duration ${ms(o.durationMs)}`,
    `--workers ${o.workers}`,
    `--concurrency ${o.concurrency}`,
    `--accounts ${o.accounts}`,
    `--coordinator-kill ${ms(o.coordinatorKillEveryMs)}`,
    `--shard-kill ${ms(o.shardKillEveryMs)}`,
    `--shard-down ${ms(o.shardDownMs.min)}..${ms(o.shardDownMs.max)}`,
    `--max-down ${o.maxShardsDown}`,
    `--network-fault ${ms(o.networkFaultEveryMs)}`,
    `--network-down ${ms(o.networkDownMs.min)}..${ms(o.networkDownMs.max)}`,
    `--timeout ${ms(o.timeoutMs)}`,
    `--lock-timeout ${ms(o.lockTimeoutMs)}`,
    `--recovery-interval ${ms(o.recovery.intervalMs)}`,
    `--grace ${ms(o.recovery.graceMs)}`,
    `--log ${o.log}`,
    ...(o.durable ? [] : ['--no-durable']),
    ...(o.reshard ? ['--reshard', `--mover-kill ${ms(o.moverKillEveryMs)}`] : []),
  ]
  return `npx tsx scripts/chaos.ts ${flags.join(' ')}`
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0
}

function integer(flag: string, text: string, min: number): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${flag}: expected an integer ≥ ${min}, got "${text}"`)
  return n
}

/** `500`, `500ms`, `20s`, `8m`. */
export function duration(flag: string, text: string, zeroAllowed = false): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!match) throw new Error(`${flag}: expected a duration like 500ms, 20s or 8m, got "${text}"`)
  const ms = Number(match[1]) * (match[2] === 'm' ? 60_000 : match[2] === 's' ? 1_000 : 1)
  if (ms < 0 || (ms === 0 && !zeroAllowed)) throw new Error(`${flag}: must be above 0`)
  return Math.round(ms)
}

function range(flag: string, text: string): { min: number; max: number } {
  const [low, high = low] = text.split('..')
  const min = duration(flag, low!, true)
  const max = duration(flag, high!, true)
  if (max < min) throw new Error(`${flag}: ${text} is an empty range`)
  return { min, max }
}

function shardId(flag: string, text: string): string {
  if (!['pg-0', 'pg-1', 'my-0', 'my-1'].includes(text)) throw new Error(`${flag}: expected pg-0, pg-1, my-0 or my-1, got "${text}"`)
  return text
}
