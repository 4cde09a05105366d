import type { ConflictInfo } from '../../src/protocol/participant.js'

/** MySQL/MariaDB errnos that mean "run the transaction again". */
const CONFLICTS: Record<number, ConflictInfo['kind']> = {
  1205: 'lock timeout',
  1213: 'deadlock',
  // XA_RBDEADLOCK / XA_RBTIMEOUT: the server rolled the XA branch back for the same reasons.
  1614: 'deadlock',
  1613: 'lock timeout',
  // MariaDB 11.8+ with innodb_snapshot_isolation: "Record has changed since last read".
  1020: 'serialization failure',
}

export const ER_DUP_ENTRY = 1062
/** XAER_NOTA: unknown xid, or one whose preparing connection is still open. */
export const ER_XAER_NOTA = 1397

export function errno(error: unknown): number | undefined {
  const value = (error as { errno?: unknown } | null)?.errno
  return typeof value === 'number' ? value : undefined
}

export function classifyMysqlConflict(error: unknown): ConflictInfo | undefined {
  const code = errno(error)
  const kind = code === undefined ? undefined : CONFLICTS[code]
  return kind === undefined ? undefined : { serverCode: String(code), kind }
}

/** mysql2 marks errors that killed the connection `fatal`; socket errors carry no errno from the server. */
export function isMysqlConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const e = error as Error & { fatal?: boolean; errno?: number; sqlState?: string }
  // 1927 ER_CONNECTION_KILLED, 1053 ER_SERVER_SHUTDOWN, 2006/2013 client-side lost connection.
  return e.fatal === true || e.sqlState === undefined || [1053, 1927, 2006, 2013].includes(e.errno ?? 0)
}
