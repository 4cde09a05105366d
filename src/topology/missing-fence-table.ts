import { ConfigError } from '../errors.js'

/**
 * A shard has no fence table: it was not reachable when `migrate()` ran. Before
 * any topology change a process creates it on the spot (see TopologyState);
 * otherwise this says to run `migrate()`.
 */
export class MissingFenceTableError extends ConfigError {
  readonly shardId: string
  constructor(shardId: string, table: string) {
    super(`shards[${shardId}]`, `the fence table ${table} does not exist on this shard: run cluster.migrate() (or \`shardtx migrate\`)`)
    this.shardId = shardId
  }
}
