import type { DialectTraits } from '../dialect-module.js'

/** PostgreSQL's facts, as the rest of shardtx needs them. */
export const postgresTraits: DialectTraits = {
  urlProtocols: ['postgres:', 'postgresql:'],
  // pg parses the URL itself.
  connectionFromUrl: (_url, text) => ({ connectionString: text }),
  // pg takes a unix socket directory as `host`.
  socketPathSetting: 'host',
  nullsSortAsLargest: true,
  transactionalDdl: true,
  preparingSessionOwnsBranch: false,
  sql: {
    hashComments: false,
    backslashEscapes: false,
    executableComments: false,
    dollarQuotes: true,
    sigilVariables: false,
    lockTablesCommits: false,
  },
}
