import type { DialectTraits } from '../dialect-module.js'

/** MySQL's and MariaDB's facts, as the rest of shardtx needs them. */
export const mysqlTraits: DialectTraits = {
  urlProtocols: ['mysql:', 'mariadb:'],
  // mysql2 reads `uri` itself; `mariadb:` is an alias it does not know.
  connectionFromUrl: (url, text) => ({ uri: url.protocol === 'mariadb:' ? 'mysql:' + text.slice('mariadb:'.length) : text }),
  socketPathSetting: 'socketPath',
  nullsSortAsLargest: false,
  // DDL commits implicitly: a failed migration may have applied part of itself.
  transactionalDdl: false,
  preparingSessionOwnsBranch: true,
  sql: {
    hashComments: true,
    backslashEscapes: true,
    executableComments: true,
    dollarQuotes: false,
    sigilVariables: true,
    lockTablesCommits: true,
  },
}
