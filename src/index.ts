export { Cluster, createCluster } from './cluster.js'
export type { ClusterOptions, RecoveryOptions } from './config/cluster-options.js'
export type { ConnectionObject, Dialect, ShardConfig } from './config/shard-config.js'
export {
  ClosedError,
  ConfigError,
  ConflictError,
  ForbiddenStatementError,
  InvalidKeyError,
  isRetryable,
  ShardTxError,
  ShardUnavailableError,
  TransactionAbortedError,
  TransactionInDoubtError,
  TransactionTimeoutError,
} from './errors.js'
export type { InDoubtBranch } from './in-doubt.js'
export type { Logger } from './logger.js'
export type { Decision, IsolationLevel } from './participant.js'
export type { ProtocolStep, StepEvent, StepHook } from './protocol-steps.js'
export type { BranchRef, RecoveryReport } from './recovery.js'
export type { ClusterStats } from './stats.js'
export { Transaction } from './transaction.js'
export type { TransactionOptions } from './transaction-options.js'
export type { RetryOptions } from './retry.js'
