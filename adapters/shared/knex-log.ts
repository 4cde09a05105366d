import type { Knex } from 'knex'
import type { Logger } from '../../src/logger.js'
import { DISCARD_MARKER } from './knex-internals.js'

/**
 * Sends knex's own messages to the cluster's logger instead of the console.
 * knex warns when its pool drops a connection shardtx closed on purpose (a
 * branch it could not finish cleanly); that one is expected, so it goes to debug.
 */
export function knexLogOf(logger: Logger, shardId: string): Knex.Config['log'] {
  const log = logger.child({ shardId, component: 'knex' })
  return {
    warn: (message: string) => (message.includes(DISCARD_MARKER) ? log.debug({}, message) : log.warn({}, message)),
    error: (message: string) => log.error({}, message),
    deprecate: (method: string, alternative: string) => log.warn({}, `${method} is deprecated; use ${alternative}`),
    debug: (message: string) => log.debug({}, message),
  }
}
