import type { BranchDriver, Decision, DecisionRecord, DecisionStore, DriverConnection, ErrorClassification } from './participant.js'
import type { BranchId } from './ids/branch-id.js'

/**
 * The decision log on the log shard. Its primary key on `tx_id` is the fence:
 * whoever inserts a transaction's record first decides it, commit or abort.
 */
export class TransactionLog {
  /** The log shard, in the roles the log needs: its store, its errors, and its knex (for the table's migration). */
  readonly participant: DecisionStore & ErrorClassification & Pick<BranchDriver, 'shardId' | 'knex' | 'boundedKnex'>

  constructor(participant: TransactionLog['participant']) {
    this.participant = participant
  }

  get shardId(): string {
    return this.participant.shardId
  }

  /** The commit point when the log shard did not write: `fenced` if a recoverer decided abort first. */
  async decideCommit(record: DecisionRecord): Promise<'committed' | 'fenced'> {
    return (await this.participant.insertDecision(record)) === 'inserted' ? 'committed' : 'fenced'
  }

  /** The commit point when the log shard wrote: the record commits with its branch, one phase. */
  async decideCommitInBranch(conn: DriverConnection, branch: BranchId, record: DecisionRecord): Promise<'committed' | 'fenced'> {
    return (await this.participant.commitWithDecision(conn, branch, record)) === 'committed' ? 'committed' : 'fenced'
  }

  /** Decides abort unless a decision exists, and returns the decision that stands. */
  async fence(txId: string, participants: string[], ms?: number): Promise<Decision> {
    return (await this.participant.fenceAbort([{ txId, participants }], Date.now(), ms)).get(txId)!
  }

  /**
   * {@link fence} for many transactions at once: one statement inserts their abort
   * records (one commit on the log shard for all) and one reads what stands.
   */
  fenceMany(requests: { txId: string; participants: string[] }[]): Promise<Map<string, Decision>> {
    return this.participant.fenceAbort(requests, Date.now())
  }

  read(txIds?: string[], decision?: Decision): Promise<DecisionRecord[]> {
    return this.participant.readDecisions(txIds, decision)
  }

  /** Deletes commit records whose branches are all committed. */
  forget(txIds: string[]): Promise<number> {
    return this.participant.deleteDecisions(txIds, 'commit')
  }

  /** Deletes abort records older than the retention. */
  expireAborts(before: number): Promise<number> {
    return this.participant.deleteAbortsBefore(before)
  }
}
