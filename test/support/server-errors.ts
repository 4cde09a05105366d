import type { Dialect } from '../../src/config/shard-config.js'

/**
 * Which server reported a duplicate key somewhere in `error`'s cause chain:
 * PostgreSQL's SQLSTATE 23505 or MariaDB/MySQL's errno 1062. `undefined` when
 * neither did, so a test can tell "the server refused the row" from a bug
 * that threw before anything was sent.
 *
 * ```ts
 * expect(duplicateKeyFrom(await insert.catch((e: unknown) => e))).toBe('mysql')
 * ```
 */
export function duplicateKeyFrom(error: unknown): Dialect | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    const { code, errno } = e as Error & { code?: unknown; errno?: unknown }
    if (code === '23505') return 'postgres'
    if (errno === 1062 || code === 'ER_DUP_ENTRY') return 'mysql'
  }
  return undefined
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection, but the promise resolved')
}
