import { LOG_COLUMNS } from '../../src/protocol/log-row.js'
import type { DecisionRecord, IsolationLevel } from '../../src/protocol/participant.js'

/**
 * `PREPARE TRANSACTION` takes no bind parameter (42601), so the gid goes in as a
 * literal. Ids are validated to a safe charset before they get here; escape anyway.
 */
export function literal(text: string): string {
  if (text.includes('\0')) throw new Error('NUL byte in SQL literal')
  return `'${text.replace(/'/g, "''")}'`
}

export function identifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** BEGIN and the branch's settings, one statement each (the extended protocol takes one at a time). */
export function beginStatements(isolationLevel: IsolationLevel | undefined, lockTimeoutMs: number | undefined): string[] {
  const statements = [isolationLevel === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${isolationLevel.toUpperCase()}`]
  if (lockTimeoutMs !== undefined) statements.push(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`)
  return statements
}

/** The commit record and the COMMIT that makes it the decision, in one round trip. */
export function insertDecisionAndCommit(table: string, record: DecisionRecord): string {
  return (
    `INSERT INTO ${identifier(table)} (${LOG_COLUMNS}) VALUES (` +
    `${literal(record.txId)}, ${literal(record.decision)}, ${literal(record.participants.join(','))}, ${Math.trunc(record.createdAt)}); COMMIT`
  )
}
