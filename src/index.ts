export { Cluster, createCluster } from './cluster.js'
export type { ClusterOptions, RecoveryOptions, TimeoutOptions } from './config/cluster-options.js'
export type { ConnectionObject, Dialect, ShardConfig } from './config/shard-config.js'
export {
  ClosedError,
  ConfigError,
  ConflictError,
  ForbiddenStatementError,
  InvalidKeyError,
  isRetryable,
  NoSuchInDoubtTransactionError,
  ShardTxError,
  ShardUnavailableError,
  ShardUnresponsiveError,
  StaleTopologyError,
  KeyMovingError,
  TopologyChangeBlockedError,
  TransactionAbortedError,
  TransactionInDoubtError,
  TransactionTimeoutError,
} from './errors.js'
export type { InDoubtBranch, ResolveOptions } from './recovery/in-doubt.js'
export type { Logger } from './logger.js'
export type { Decision, IsolationLevel } from './protocol/participant.js'
export type { ProtocolStep, StepEvent, StepHook } from './protocol/protocol-steps.js'
export type { BranchRef, RecoveryReport } from './recovery/recovery.js'
export {
  MigrationLoadError,
  ShardMigrationError,
  type MigrateShardsOptions,
  type MigrationProgress,
  type ShardMigrationFailure,
  type ShardMigrationState,
  type ShardMigrationStatus,
  type ShardStatus,
} from './shard-migrations/index.js'
export type { ClusterStats } from './stats.js'
export { AdmissionTimeoutError } from './contention/admission-timeout-error.js'
export type { AdmissionStats } from './contention/admission-gate.js'
export type { LaneStats } from './contention/cluster-lane.js'
export { DistributedDeadlockError } from './contention/distributed-deadlock-error.js'
export type { DeadlockStats } from './contention/deadlock-detector.js'
export type { WaitEdge } from './contention/wait-for-graph.js'
export {
  type ComparisonOperator,
  type Filter,
  type FilterValue,
  type ReferenceTableDeclaration,
  type Route,
  RoutedStatement,
  type RouteOperation,
  type RoutePlan,
  RoutingError,
  type RoutingErrorCode,
  ShardedQuery,
  type ShardedTableDeclaration,
  type TableDeclaration,
  type WriteOptions,
} from './sharded-tables/index.js'
export { comparePlacementReports, type PlacementComparison, type PlacementDifference } from './resharding/compare-placement.js'
export type { CursorValue, MisplacedRows, PlacementReport, SlotRange, TablePlacement, TallyState, VerifyCursor, VerifyScope } from './resharding/placement-report.js'
export type { VerifyPlacementOptions } from './resharding/verify-options.js'
export type { Topology, TopologyShard } from './topology/topology.js'
export type { TopologyDiff } from './topology/topology-diff.js'
export type { TopologyMode } from './topology/topology-state.js'
export type { TopologyReport } from './topology/topology-report.js'
export type { SetTopologyOptions, TopologyChange, TopologyStepEvent, TopologyTarget } from './topology/set-topology.js'
export type { LogMove, MoveLogOptions, MoveLogStepEvent } from './resharding/move-log.js'
export { Transaction } from './transaction/transaction.js'
export type { TransactionOptions } from './transaction/transaction-options.js'
export type { RetryOptions } from './transaction/retry.js'
