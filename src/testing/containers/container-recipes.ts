import { acceptsMysqlConnections } from '../mysql-handshake-probe.js'

/**
 * How to run one dialect's server in a container on the host's network. It
 * speaks the official images' interface (`POSTGRES_PASSWORD`,
 * `MARIADB_ROOT_PASSWORD`, server arguments as the command), which the
 * locally built images copy, so one recipe serves both.
 */
export interface ContainerRecipe {
  user: string
  environment: Record<string, string>
  /** The signal for a clean, prompt shutdown. */
  shutdownSignal: 'SIGINT' | 'SIGTERM'
  /**
   * The server listens on `port` of 127.0.0.1 only: with host networking
   * nothing else is between the server and the host's other processes.
   */
  command(port: number, durable: boolean): string[]
  /**
   * How to tell the server accepts connections over TCP: a command run inside
   * the container that exits 0 then, or a probe from the host.
   */
  ready: { command(port: number): string[] } | { probe(host: string, port: number): Promise<boolean> }
  createDatabaseCommand(port: number, database: string): string[]
}

/** Password of the servers' superuser; the shards log in with it. */
export const CONTAINER_PASSWORD = 'shardtx'

export const postgresContainer: ContainerRecipe = {
  user: 'postgres',
  environment: { POSTGRES_PASSWORD: CONTAINER_PASSWORD, PGPASSWORD: CONTAINER_PASSWORD },
  // postgres takes SIGTERM as a "smart" shutdown, which waits for every client to leave.
  shutdownSignal: 'SIGINT',
  command: (port, durable) =>
    [
      'postgres',
      ...[`port=${port}`, 'listen_addresses=127.0.0.1', 'max_connections=300', 'max_prepared_transactions=100']
        // Same settings as the local backend; see postgres-server.ts for why synchronous_commit stays on.
        .concat(durable ? [] : ['fsync=off', 'full_page_writes=off'])
        .flatMap((setting) => ['-c', setting]),
    ],
  ready: { command: (port) => ['pg_isready', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'] },
  createDatabaseCommand: (port, database) =>
    ['psql', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', `CREATE DATABASE "${database}"`],
}

export const mariadbContainer: ContainerRecipe = {
  user: 'root',
  environment: { MARIADB_ROOT_PASSWORD: CONTAINER_PASSWORD },
  shutdownSignal: 'SIGTERM',
  command: (port, durable) => [
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--max-connections=500',
    '--skip-name-resolve',
    ...(durable ? [] : ['--innodb-flush-log-at-trx-commit=2', '--sync-binlog=0', '--innodb-doublewrite=0']),
  ],
  // Probed from the host: a greeting is the one sure sign.
  ready: { probe: acceptsMysqlConnections },
  createDatabaseCommand: (port, database) =>
    ['mariadb', '-h127.0.0.1', `-P${port}`, '-uroot', `-p${CONTAINER_PASSWORD}`, '-e', `CREATE DATABASE \`${database}\``],
}
