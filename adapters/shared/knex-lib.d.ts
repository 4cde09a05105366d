// knex ships no types for these internal modules; shardtx reads them to build
// branch-bound knex instances the way knex builds its own transaction instances.
declare module 'knex/lib/query/method-constants.js' {
  const methods: string[]
  export default methods
}
