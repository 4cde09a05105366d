/**
 * What `shardtx --help` prints. docs/cli.md says the same at length.
 */
export const HELP_TEXT = `shardtx: operate a shardtx cluster from the shell

Usage: shardtx <command> [arguments] [options]

Commands
  status                          check every shard: reachable, server version, ready for
                                  two-phase commit, in-doubt branches, log table
  in-doubt                        list prepared branches of ours, with age and logged decision
  recover                         run one recovery round now
  resolve <txId> commit|abort     settle one in-doubt transaction by hand (through the log's fence)
  route <key>...                  print the shard of each key (no connection needed)
  migrate                         create shardtx's tables: log and topology on the log shard,
                                  the epoch fence on every shard
  migrate --shards                run your knex migrations on every shard, in lockstep
  topology show                   the stored topology: epoch, shards, each shard's fence epoch
  topology set --to <config>      route every process by the shards of <config>: bumps the
                                  epoch on every shard, then publishes it
  topology move-log --to <shard>  move the decision log, the topology and the resharding jobs to
                                  <shard> (one fenced epoch change over every shard); after it
                                  the old log shard can be removed like any other
  reshard plan --to <config>      dry run of a resharding job: slots and rows that move, batches,
                                  problems that would refuse it (exit 1 when there are any)
  reshard start --to <config>     move the rows of the declared sharded tables to the shards of
                                  <config>, batch by batch (or resume the job in progress);
                                  Ctrl-C stops at the next batch boundary (exit 130, resumable)
  reshard status                  where the latest job stands
  reshard verify                  every row on the shard that owns it? (exit 1 when not), with row
                                  counts and checksums per table and per range of 1,024 slots;
                                  page by page, Ctrl-C stops at a page boundary (exit 130)
  reshard cancel                  stop the running job at its next batch boundary
  reshard reverse                 move the done batches of the latest job back

Options
  -c, --config <file>   config file (default: shardtx.config.js, .mjs, .cjs or .json in the
                        working directory); it holds the createCluster options
      --json            print one JSON document on stdout
  -q, --quiet           no progress lines on stderr
  -v, --verbose         library log lines on stderr, stacks of unexpected errors
  -h, --help            this text

route
      --int             read the keys as integers (042 routes like 42)
      --bigint          read the keys as bigints; keys are strings otherwise.
                        The ring routes 42, 42n and '42' alike. Negative: route --int -- -5

resolve
      --force           abort (fence) an id that no shard holds a branch of and the log does
                        not know, which is refused otherwise as most likely a mistyped id: for a
                        transaction whose coordinator may still run where you cannot see it

migrate --shards
  -d, --directory <dir> folder of migration files (default ./migrations)
      --table <name>    migrations table on each shard (default knex_migrations)
      --only <ids>      only these shards, comma-separated

topology set
      --to <config>     config file whose shards (ids, weights) are the new topology; the
                        connections of shards new to the cluster are taken from it too
      --allow-empty-move  allow moving slots of declared sharded tables, once they hold no rows

topology move-log
      --to <shard>      id of the shard the log moves to: one of the topology's shards, other
                        than the log shard; refused while a resharding job is in progress

reshard
      --to <config>     the target shards (plan, start); verify and reverse take it too, for
                        connections to shards --config lacks
      --batch-size <n>  rows per batch, each one fenced transaction (plan, start; default 500)
      --duty-cycle <x>  share of the time the mover works, in (0, 1] (start, reverse; default 0.25)
      --max-batches <n> stop after n batches, the job left resumable (start, reverse)
      --page-size <n>   verify: rows per page, each page one fenced transaction (default 5000)
      --save <file>     verify: keep the report so far in <file>, rewritten as it goes, to resume
      --resume <file>   verify: go on from the report saved in <file>, and keep saving to it
      --against <file>  verify: compare with a report saved before (--save, or --json output);
                        exit 1 naming the tables and slot ranges that differ
      --json            start and reverse print one progress event per line (NDJSON), then the result;
                        verify prints { "placement": report }, a file --resume and --against read

Exit codes
  0    done, nothing left in doubt
  1    the operation failed, or in-doubt branches / other problems remain
  2    usage or config mistake (nothing was sent to any shard)
  3    a shard could not be reached or refused the login
  130  interrupted (Ctrl-C): reshard start / reverse stopped at a batch boundary, reshard verify
       at a page boundary; resumable
`
