import { dialectNames, isDialect } from '../../adapters/index.js'
import { ConfigError } from '../errors.js'
import { MAX_TIMEOUT_MS } from '../protocol/ids/transaction-id.js'
import type { IsolationLevel } from '../protocol/participant.js'
import type { Logger } from '../logger.js'
import type { StepHook } from '../protocol/protocol-steps.js'
import { type ResolvedTables, resolveTables, type TableDeclaration } from '../sharded-tables/table-declaration.js'
import { normalizeConnection } from './connection.js'
import type { Dialect, ShardConfig } from './shard-config.js'
import { booleanOption, functionOption, integerAtLeast, nonNegativeMs, plainObject, positiveMs, rejectUnknownKeys } from './validate.js'
import type { TopologyMode } from '../topology/topology-state.js'
import { validWeight } from '../sharding/shard-spec.js'

/**
 * Options of {@link createCluster}.
 *
 * ```ts
 * createCluster({ shards, log: 'pg-0', recovery: { intervalMs: 10_000 } })
 * ```
 */
export interface ClusterOptions {
  shards: ShardConfig[]
  /** Shard that holds the transaction log table (default: the first shard). */
  log?: string
  /** A pino-compatible logger; silent by default. */
  logger?: Logger
  /** Marks our prepared branches on the servers (default `stx_`): `[A-Za-z0-9_]{1,24}`. */
  prefix?: string
  /** Name of the transaction log table (default `shardtx_log`). */
  logTable?: string
  /** Default transaction timeout in ms (default 30 000). */
  timeout?: number
  /** Default isolation level of every branch (default: the server's). */
  isolationLevel?: IsolationLevel
  /** Default lock wait limit of every branch in ms (default: the server's). */
  lockTimeout?: number
  /** How long a transaction waits for a pooled connection, in ms (default 10 000). */
  maxWait?: number
  /**
   * How long a branch statement may wait before the coordinator looks for a lock
   * cycle across shards, in ms (default 250); `false` turns distributed deadlock
   * detection off. See docs/deadlocks.md.
   */
  deadlockTimeout?: number | false
  /**
   * How long opening one driver connection may take, TCP connect and login
   * included, in ms (default 10 000). Without it a server that accepts but never
   * answers would hold the caller until TCP gives up.
   */
  connectTimeout?: number
  /**
   * Idle time after which TCP keepalive probes start on every driver connection,
   * in ms (default 10 000), so a dead peer is noticed on idle pooled connections.
   * The OS sets the probe interval and count.
   */
  keepAliveDelay?: number
  /** Client-side bounds on the protocol's statements, so no call hangs on a shard that stopped answering. */
  timeouts?: TimeoutOptions
  /** Background recovery; `false` turns it off. */
  recovery?: false | RecoveryOptions
  /** Observes each protocol step; see {@link StepHook}. */
  onStep?: StepHook
  /**
   * Let a `cluster.transaction()` called inside a running one join it, through
   * AsyncLocalStorage (default true). On Node 20 AsyncLocalStorage turns on promise
   * hooks for the whole process, which costs throughput; `false` turns it off
   * (nested calls then start transactions of their own).
   */
  propagation?: boolean
  /**
   * The lane (default true): after a deadlock that this process's own concurrency
   * did not cause (the cycle ran through another process), its transactions take a lock
   * on the log shard before their callback starts (a session of its own per
   * process, outside the pools), so that processes deadlocking with each other on
   * hot rows run one transaction at a time between them until the deadlocks stop.
   * See docs/deadlocks.md.
   */
  clusterLane?: boolean
  /** Sharded and reference tables that `tx.table(name)` routes; see docs/sharded-tables.md. */
  tables?: Record<string, TableDeclaration>
  /**
   * `'check'` (default): at first use, the shard set (ids, dialects, weights) must
   * equal the topology stored on the log shard, or a ConfigError names the
   * difference. `'follow'`: route by the stored topology; `shards` must still give
   * a connection for every shard in it. See docs/topology.md.
   */
  topology?: TopologyMode
}

/**
 * Background recovery settings of {@link ClusterOptions}.
 *
 * ```ts
 * createCluster({ shards, recovery: { intervalMs: 10_000, graceMs: 2_000, abortRetentionMs: 3 * 86_400_000 } })
 * ```
 */
export interface RecoveryOptions {
  /** Run recovery in the background (default true). */
  enabled?: boolean
  /** Pause between background rounds, in ms (default 30 000). */
  intervalMs?: number
  /** Extra wait past a transaction's deadline before recovery judges it abandoned, in ms (default 5 000). */
  graceMs?: number
  /** How long abort records are kept, in ms (default one day). */
  abortRetentionMs?: number
  /**
   * Fraction of the time a background round spends settling branches, in (0, 1]
   * (default 0.05): after settling a transaction that took t ms it pauses
   * t·(1/dutyCycle − 1) ms, so the pause grows when the servers are busy.
   * `cluster.recover()` is never paced.
   */
  dutyCycle?: number
}

/**
 * Bounds, in ms, on what the commit protocol and recovery wait for. A network that
 * drops packets without closing the socket leaves a driver waiting until TCP gives
 * up (about 15 minutes); past its bound a statement's connection is closed (never
 * pooled) and the protocol goes on as if the connection had broken. None of these
 * decides an outcome: safety rests on the log's fence, never on a clock.
 *
 * ```ts
 * createCluster({ shards, timeout: 5_000, timeouts: { decision: 3_000, commit: 1_000 } })
 * ```
 */
export interface TimeoutOptions {
  /**
   * Writing the commit decision (or a one-phase COMMIT), and again reading it back
   * through the fence when the write's answer was lost (default 5 000). Missing both
   * makes the transaction in doubt (`TransactionInDoubtError`).
   */
  decision?: number
  /**
   * How long the caller waits for the commit phase once the decision is durable
   * (default 2 000). A branch that does not answer is left to recovery, with a
   * warning; the caller gets success.
   */
  commit?: number
  /**
   * Rolling back, and ending read-only branches (default 2 000). After the timeout
   * it also bounds the wait for a cancelled statement; a branch not rolled back in
   * time has its connection closed, and presumed abort covers it.
   */
  rollback?: number
  /**
   * Each statement of recovery and of the operator calls: `recover()`, `inDoubt()`,
   * `resolve()`, `status()`, `migrate()`, and the background deletion of commit
   * records (default 5 000). A shard that misses it is reported in a round's `failed`.
   */
  recovery?: number
}

/** The options after validation, with every default filled in. */
export interface ResolvedClusterConfig {
  shards: ResolvedShard[]
  logShardId: string
  prefix: string
  logTable: string
  timeoutMs: number
  isolationLevel: IsolationLevel | undefined
  lockTimeoutMs: number | undefined
  maxWaitMs: number
  deadlockTimeoutMs: number | false
  connectTimeoutMs: number
  keepAliveDelayMs: number
  timeouts: ResolvedTimeouts
  recovery: Required<RecoveryOptions>
  onStep: StepHook | undefined
  propagation: boolean
  clusterLane: boolean
  tables: ResolvedTables
  topology: TopologyMode
}

export interface ResolvedTimeouts {
  decisionMs: number
  commitMs: number
  rollbackMs: number
  recoveryMs: number
}

export interface ResolvedShard {
  id: string
  dialect: Dialect
  weight: number
  connection: Record<string, unknown>
  pool: { min?: number; max?: number }
}

const CLUSTER_KEYS = [
  'shards', 'log', 'logger', 'prefix', 'logTable', 'timeout', 'isolationLevel', 'lockTimeout', 'maxWait', 'deadlockTimeout', 'connectTimeout', 'keepAliveDelay', 'timeouts',
  'recovery', 'onStep', 'tables', 'propagation', 'clusterLane', 'topology',
]
const SHARD_KEYS = ['id', 'dialect', 'connection', 'weight', 'pool']
const TIMEOUT_KEYS = ['decision', 'commit', 'rollback', 'recovery']
const RECOVERY_KEYS = ['enabled', 'intervalMs', 'graceMs', 'abortRetentionMs', 'dutyCycle']
export const ISOLATION_LEVELS: IsolationLevel[] = ['read uncommitted', 'read committed', 'repeatable read', 'serializable']

/** Shard ids and the prefix are spliced into PREPARE TRANSACTION / XA literals: keep them to a safe charset. */
const SHARD_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
const PREFIX_PATTERN = /^[A-Za-z0-9_]{1,24}$/
const TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/

export const DEFAULT_TIMEOUT_MS = 30_000
/** A few hundred ms: longer than most lock waits last, short beside any lock timeout. */
export const DEFAULT_DEADLOCK_TIMEOUT_MS = 250

/** Validates cluster options; every problem is a {@link ConfigError} naming its field. */
export function resolveClusterOptions(input: unknown): ResolvedClusterConfig {
  const options = plainObject('options', input) as Partial<ClusterOptions>
  rejectUnknownKeys('options', options, CLUSTER_KEYS)
  const shards = resolveShards(options.shards)
  // `undefined` means the default; `null` and every other non-string are mistakes.
  const logShardId = options.log === undefined ? shards[0]!.id : options.log
  if (typeof logShardId !== 'string' || !shards.some((s) => s.id === logShardId)) {
    throw new ConfigError('log', `must be the id of one of the shards (${shards.map((s) => s.id).join(', ')})`)
  }
  const prefix = options.prefix === undefined ? 'stx_' : options.prefix
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError('prefix', 'must be 1 to 24 characters of A-Z, a-z, 0-9 and _')
  }
  const logTable = options.logTable === undefined ? 'shardtx_log' : options.logTable
  if (typeof logTable !== 'string' || !TABLE_PATTERN.test(logTable)) {
    throw new ConfigError('logTable', 'must be a plain SQL identifier of at most 48 characters (its migrations table adds a suffix)')
  }
  if (options.onStep !== undefined) functionOption('onStep', options.onStep)
  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw new ConfigError('logger', 'must be a pino-compatible logger with debug, info, warn, error and child methods, e.g. pino()')
  }
  return {
    shards,
    logShardId,
    prefix,
    logTable,
    timeoutMs: timeoutOption('timeout', options.timeout) ?? DEFAULT_TIMEOUT_MS,
    isolationLevel: isolationLevelOption('isolationLevel', options.isolationLevel),
    lockTimeoutMs: positiveMs('lockTimeout', options.lockTimeout),
    maxWaitMs: positiveMs('maxWait', options.maxWait) ?? 10_000,
    deadlockTimeoutMs: deadlockTimeoutOption(options.deadlockTimeout),
    connectTimeoutMs: positiveMs('connectTimeout', options.connectTimeout) ?? 10_000,
    keepAliveDelayMs: positiveMs('keepAliveDelay', options.keepAliveDelay) ?? 10_000,
    timeouts: resolveTimeouts(options.timeouts),
    recovery: resolveRecovery(options.recovery),
    onStep: options.onStep,
    propagation: booleanOption('propagation', options.propagation) ?? true,
    clusterLane: booleanOption('clusterLane', options.clusterLane) ?? true,
    tables: resolveTables(options.tables),
    topology: topologyModeOption(options.topology),
  }
}

function topologyModeOption(value: unknown): TopologyMode {
  if (value === undefined) return 'check'
  if (value !== 'check' && value !== 'follow') throw new ConfigError('topology', `must be 'check' or 'follow', not ${JSON.stringify(value)}`)
  return value
}

function resolveShards(input: unknown): ResolvedShard[] {
  if (!Array.isArray(input) || input.length === 0) throw new ConfigError('shards', 'must list at least one shard')
  const seen = new Set<string>()
  // Array.from, not map: a hole in a sparse array is a missing shard, refused as one.
  return Array.from(input, (raw: unknown, i) => {
    const field = `shards[${i}]`
    const shard = plainObject(field, raw) as Partial<ShardConfig>
    rejectUnknownKeys(field, shard, SHARD_KEYS)
    if (typeof shard.id !== 'string' || !SHARD_ID_PATTERN.test(shard.id)) {
      throw new ConfigError(`${field}.id`, 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -')
    }
    if (seen.has(shard.id)) throw new ConfigError(`${field}.id`, `duplicate shard id "${shard.id}"`)
    seen.add(shard.id)
    if (!isDialect(shard.dialect)) {
      // The value itself is not quoted: a config error must never echo config text (it may be a misplaced secret).
      throw new ConfigError(`${field}.dialect`, `must be ${dialectNames()} (got ${shard.dialect === undefined ? 'none' : `another ${typeof shard.dialect}`})`)
    }
    // The ring's rule, here where the field's index is the caller's (the ring sorts by id).
    const weight = validWeight(shard.weight, `${field}.weight`)
    return {
      id: shard.id,
      dialect: shard.dialect,
      weight,
      connection: normalizeConnection(`${field}.connection`, shard.dialect, shard.connection),
      pool: resolvePool(`${field}.pool`, shard.pool),
    }
  })
}

function resolvePool(field: string, input: unknown): { min?: number; max?: number } {
  if (input === undefined) return {}
  const pool = plainObject(field, input) as { min?: unknown; max?: unknown }
  rejectUnknownKeys(field, pool, ['min', 'max'])
  const { min, max } = pool
  integerAtLeast(`${field}.min`, min, 0)
  integerAtLeast(`${field}.max`, max, 1)
  if (min !== undefined && max !== undefined && (min as number) > (max as number)) {
    throw new ConfigError(`${field}.min`, 'must not exceed max')
  }
  return { ...(min === undefined ? {} : { min: min as number }), ...(max === undefined ? {} : { max: max as number }) }
}

export const DEFAULT_TIMEOUTS: ResolvedTimeouts = { decisionMs: 5_000, commitMs: 2_000, rollbackMs: 2_000, recoveryMs: 5_000 }

function resolveTimeouts(input: unknown): ResolvedTimeouts {
  if (input === undefined) return DEFAULT_TIMEOUTS
  const timeouts = plainObject('timeouts', input) as TimeoutOptions
  rejectUnknownKeys('timeouts', timeouts, TIMEOUT_KEYS)
  return {
    decisionMs: positiveMs('timeouts.decision', timeouts.decision) ?? DEFAULT_TIMEOUTS.decisionMs,
    commitMs: positiveMs('timeouts.commit', timeouts.commit) ?? DEFAULT_TIMEOUTS.commitMs,
    rollbackMs: positiveMs('timeouts.rollback', timeouts.rollback) ?? DEFAULT_TIMEOUTS.rollbackMs,
    recoveryMs: positiveMs('timeouts.recovery', timeouts.recovery) ?? DEFAULT_TIMEOUTS.recoveryMs,
  }
}

function resolveRecovery(input: unknown): Required<RecoveryOptions> {
  const defaults = { enabled: true, intervalMs: 30_000, graceMs: 5_000, abortRetentionMs: 86_400_000, dutyCycle: 0.05 }
  if (input === undefined) return defaults
  if (input === false) return { ...defaults, enabled: false }
  const recovery = plainObject('recovery', input) as RecoveryOptions
  rejectUnknownKeys('recovery', recovery, RECOVERY_KEYS)
  return {
    enabled: booleanOption('recovery.enabled', recovery.enabled) ?? true,
    intervalMs: positiveMs('recovery.intervalMs', recovery.intervalMs) ?? defaults.intervalMs,
    graceMs: nonNegativeMs('recovery.graceMs', recovery.graceMs) ?? defaults.graceMs,
    // An age records are kept for, never a timer: no timer's limit.
    abortRetentionMs: positiveMs('recovery.abortRetentionMs', recovery.abortRetentionMs, Number.MAX_SAFE_INTEGER) ?? defaults.abortRetentionMs,
    dutyCycle: dutyCycleOption(recovery.dutyCycle) ?? defaults.dutyCycle,
  }
}

function deadlockTimeoutOption(value: unknown): number | false {
  if (value === undefined) return DEFAULT_DEADLOCK_TIMEOUT_MS
  if (value === false) return false
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError('deadlockTimeout', 'must be a finite number of milliseconds above 0, or false to turn distributed deadlock detection off')
  }
  return positiveMs('deadlockTimeout', value)!
}

function dutyCycleOption(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ConfigError('recovery.dutyCycle', `must be a number in (0, 1], got ${typeof value === 'number' ? String(value) : `a ${typeof value}`}`)
  }
  return value
}

/** Validates a per-transaction or cluster timeout. */
export function timeoutOption(field: string, value: unknown): number | undefined {
  const ms = positiveMs(field, value)
  if (ms !== undefined && ms > MAX_TIMEOUT_MS) throw new ConfigError(field, `must be at most ${MAX_TIMEOUT_MS} ms`)
  return ms
}

export function isolationLevelOption(field: string, value: unknown): IsolationLevel | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !ISOLATION_LEVELS.includes(value as IsolationLevel)) {
    throw new ConfigError(field, `must be one of ${ISOLATION_LEVELS.map((l) => `'${l}'`).join(', ')}`)
  }
  return value as IsolationLevel
}

function isLogger(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const logger = value as Record<string, unknown>
  return ['debug', 'info', 'warn', 'error', 'child'].every((method) => typeof logger[method] === 'function')
}
