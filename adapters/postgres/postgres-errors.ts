import type { ConflictInfo } from '../../src/protocol/participant.js'

/** SQLSTATEs that mean "run the transaction again". */
const CONFLICTS: Record<string, ConflictInfo['kind']> = {
  '40001': 'serialization failure',
  '40P01': 'deadlock',
  '55P03': 'lock timeout',
}

export const UNIQUE_VIOLATION = '23505'
/** COMMIT/ROLLBACK PREPARED of a gid that does not exist (any more). */
export const UNDEFINED_OBJECT = '42704'
/** "prepared transaction with identifier … is busy": its PREPARE is still running. */
export const OBJECT_NOT_IN_PREREQUISITE_STATE = '55000'

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function classifyPostgresConflict(error: unknown): ConflictInfo | undefined {
  const code = sqlState(error)
  const kind = code === undefined ? undefined : CONFLICTS[code]
  return kind === undefined || code === undefined ? undefined : { serverCode: code, kind }
}

/** Errors without a SQLSTATE from the server: the socket or the server went away. */
export function isPostgresConnectionError(error: unknown): boolean {
  const code = sqlState(error)
  // pg's own socket errors carry no code, only words ("Connection terminated unexpectedly",
  // and "timeout expired" when connectionTimeoutMillis ends a connect that got no answer).
  if (code === undefined) return error instanceof Error && /connection|terminat|socket|closed|^timeout expired$/i.test(error.message)
  // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('E')
}
