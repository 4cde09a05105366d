// knex ships no types for these internal modules; adapters/shared/knex-internals.ts,
// the one file that reads them, builds branch-bound knex instances from them.
declare module 'knex/lib/query/method-constants.js' {
  const methods: string[]
  export default methods
}
declare module 'knex/lib/execution/internal/query-executioner.js' {
  const executioner: unknown
  export default executioner
}
declare module 'knex/lib/util/timeout.js' {
  const timeout: unknown
  export default timeout
}
