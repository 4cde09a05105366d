import type { RecoveryReport } from '../../recovery/recovery.js'
import { textTable } from '../text-table.js'

/**
 * A recovery report for people: the counts, then one line per branch touched,
 * skipped or failed, then the shards that did not answer.
 */
export function recoveryReportText(report: RecoveryReport, unreachable: { shardId: string; error: string }[]): string {
  const counts =
    `committed ${report.committed.length}, rolled back ${report.rolledBack.length}, skipped ${report.skipped.length}, ` +
    `failed ${report.failed.length}, commit records forgotten ${report.forgotten}, abort records expired ${report.expired}`
  const rows = [
    ...report.committed.map((b) => ['committed', b.txId, b.shardId, '']),
    ...report.rolledBack.map((b) => ['rolled back', b.txId, b.shardId, '']),
    ...report.skipped.map((b) => ['skipped', b.txId, b.shardId, b.reason]),
    ...report.failed.map((f) => ['failed', f.txId ?? '-', f.shardId, f.error]),
  ]
  const lines = [counts]
  if (rows.length > 0) lines.push('', textTable(['OUTCOME', 'TX ID', 'SHARD', 'DETAIL'], rows))
  if (unreachable.length > 0) lines.push('', `unreachable: ${unreachable.map((u) => `${u.shardId} (${u.error})`).join('; ')}`)
  return lines.join('\n')
}
