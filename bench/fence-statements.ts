/**
 * `node --import tsx bench/fence-statements.ts`: what the epoch fence's statements
 * cost the server, statement form by statement form, on throwaway servers it starts
 * (1 PostgreSQL + 1 MariaDB, fsync on). One connection per server sends one-shard
 * transactions the way the adapters send a branch (BEGIN / XA START, the fence and
 * the first statement in one round trip; then COMMIT / XA END + XA COMMIT … ONE
 * PHASE); the variants alternate window by window. Reported per transaction: the
 * server's CPU time (PostgreSQL: the backend process; MariaDB: the whole mariadbd
 * process, from /proc, so Linux only), this process's CPU time, and wall time.
 * The server CPU is the figure to compare: the bench (`npm run bench -- --only
 * fence`) runs the client and the servers on the same cores.
 */
import { readFileSync } from 'node:fs'
import pg from 'pg'
import mysql from 'mysql2'
import { startLocalCluster } from '../src/testing/index.js'
import { createCluster } from '../src/index.js'
import { fenceTableOf } from '../src/topology/table-names.js'
import { type ControlStatement, controlSql, runWithBegin } from '../adapters/postgres/pipelined-begin.js'
import { fenceStatements } from '../adapters/postgres/postgres-fence.js'
import { fenceStatement } from '../adapters/mysql/mysql-fence.js'
import { positiveIntFlag, scriptFlags } from '../scripts/script-flags.js'
import { ACCOUNTS, createAccounts, randomAccount } from './transfer.js'

const HELP = `node --import tsx bench/fence-statements.ts [flags]

Server CPU µs per one-shard transaction for each form of the topology fence,
on throwaway servers it starts (1 PostgreSQL + 1 MariaDB, fsync on).

PostgreSQL: none | text (LOCK + check parsed and planned every time, as before
the check became a named statement) | named (as the adapter sends it now).
MariaDB: none | fence (the adapter's locking read, as a later branch sends it) |
fence-wait-1 (as a transaction's first branch sends it) | unlocked (the same read
without LOCK IN SHARE MODE NOWAIT) | for-update (the same read with an exclusive
lock: not usable, it shows what the lock's mode costs) | select-1 (SELECT 1: what
any extra statement of a multi-statement query costs).

  --tx N       transactions per window (default 3000)
  --windows N  measured windows per variant (default 5), after one warm-up window
  --read       the transaction reads its row instead of updating it
  -h, --help   this text
`
const flags = scriptFlags('bench/fence-statements', HELP, {
  tx: { type: 'string', default: '3000' },
  windows: { type: 'string', default: '5' },
  read: { type: 'boolean', default: false },
})
const perWindow = positiveIntFlag('bench/fence-statements', 'tx', flags.tx!)
const windows = positiveIntFlag('bench/fence-statements', 'windows', flags.windows!)

const CLOCK_TICK_MS = 10
/** utime + stime of a process, in ms (the kernel counts clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS
}

interface Variant {
  name: string
  transaction: () => Promise<void>
}

interface Figures {
  serverUs: number[]
  clientUs: number[]
  wallUs: number[]
}

async function measure(serverPid: number, variants: Variant[]): Promise<Map<string, Figures>> {
  const figures = new Map(variants.map((v) => [v.name, { serverUs: [], clientUs: [], wallUs: [] } as Figures]))
  for (const variant of variants) for (let i = 0; i < Math.min(perWindow, 500); i++) await variant.transaction()
  for (let w = 0; w < windows; w++) {
    for (const variant of w % 2 === 0 ? variants : [...variants].reverse()) {
      const server = cpuMsOf(serverPid)
      const client = process.cpuUsage()
      const wall = performance.now()
      for (let i = 0; i < perWindow; i++) await variant.transaction()
      const used = process.cpuUsage(client)
      const f = figures.get(variant.name)!
      f.wallUs.push(((performance.now() - wall) * 1000) / perWindow)
      f.serverUs.push(((cpuMsOf(serverPid) - server) * 1000) / perWindow)
      f.clientUs.push((used.user + used.system) / perWindow)
    }
  }
  return figures
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

function report(title: string, figures: Map<string, Figures>): void {
  console.log(`\n${title} (${perWindow} tx × ${windows} windows; median, and every window)`)
  console.log('| variant | server CPU µs/tx | client CPU µs/tx | wall µs/tx | server CPU per window |\n|---|---:|---:|---:|---|')
  for (const [name, f] of figures) {
    const each = f.serverUs.map((v) => v.toFixed(0)).join(' ')
    console.log(`| ${name} | ${median(f.serverUs).toFixed(0)} | ${median(f.clientUs).toFixed(0)} | ${median(f.wallUs).toFixed(0)} | ${each} |`)
  }
}

const local = await startLocalCluster({ postgres: 1, mysql: 1, durable: true })
try {
  const cluster = createCluster({ shards: local.shards, log: 'pg-0', recovery: false })
  await cluster.migrate()
  await Promise.all(cluster.shardIds.map((id) => createAccounts(cluster.forShard(id))))
  await cluster.transaction(async () => {}) // first use: every shard's fence row at epoch 1
  await cluster.close()
  const fence = fenceTableOf('shardtx_log')
  const statement = flags.read ? 'SELECT balance FROM accounts WHERE id = ' : 'UPDATE accounts SET balance = balance - 1 WHERE id = '
  console.log(`uptime: ${readFileSync('/proc/loadavg', 'utf8').trim()} (load average 1, 5, 15 min); ${ACCOUNTS} accounts; ${flags.read ? 'read' : 'update'} one row`)

  const pgShard = local.shards.find((s) => s.dialect === 'postgres')!
  const client = new pg.Client(pgShard.connection as pg.ClientConfig)
  await client.connect()
  try {
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    const named = fenceStatements(fence, pgShard.id, 1)
    const text = named.map(controlSql)
    const pgTransaction = (control: ControlStatement[]) => async (): Promise<void> => {
      await runWithBegin(client, control, { sql: `${statement}$1`, bindings: [randomAccount()] })
      await client.query('COMMIT')
    }
    report(
      'PostgreSQL: BEGIN, the fence and the statement in one pipeline; COMMIT',
      await measure(backend, [
        { name: 'none', transaction: pgTransaction(['BEGIN']) },
        { name: 'text', transaction: pgTransaction(['BEGIN', ...text]) },
        { name: 'named', transaction: pgTransaction(['BEGIN', ...named]) },
      ]),
    )
  } finally {
    await client.end()
  }

  const myShard = local.shards.find((s) => s.dialect === 'mysql')!
  const conn = mysql.createConnection({ ...(myShard.connection as mysql.ConnectionOptions), multipleStatements: true })
  const run = (sql: string): Promise<unknown> => new Promise((resolve, reject) => conn.query(sql, (error, rows) => (error ? reject(error) : resolve(rows))))
  try {
    const [row] = (await run('SELECT @@pid_file AS pidFile')) as { pidFile: string }[]
    const server = Number(readFileSync(row!.pidFile, 'utf8').trim())
    let n = 0
    const myTransaction = (fenceSql: string[]) => async (): Promise<void> => {
      const xid = `'fence-bench-${n++}'`
      await run([`XA START ${xid}`, ...fenceSql, `${statement}${randomAccount()}`].join('; '))
      await run(`XA END ${xid}; XA COMMIT ${xid} ONE PHASE`)
    }
    const locking = fenceStatement(fence, myShard.id, false)
    report(
      'MariaDB: XA START, the fence and the statement in one multi-statement query; XA END + XA COMMIT ONE PHASE',
      await measure(server, [
        { name: 'none', transaction: myTransaction([]) },
        { name: 'fence', transaction: myTransaction([locking]) },
        { name: 'fence-wait-1', transaction: myTransaction([fenceStatement(fence, myShard.id, true)]) },
        { name: 'unlocked', transaction: myTransaction([locking.replace(/ LOCK IN SHARE MODE NOWAIT$/, '')]) },
        { name: 'for-update', transaction: myTransaction([locking.replace(/ LOCK IN SHARE MODE NOWAIT$/, ' FOR UPDATE')]) },
        { name: 'select-1', transaction: myTransaction(['SELECT 1']) },
      ]),
    )
  } finally {
    conn.end()
  }
} finally {
  await local.destroy()
}
