/**
 * The layer rules of shardtx, checked by `npm run lint:layers` (and in CI).
 * Type-only imports count: a cycle through `import type` is still a cycle in
 * what a reader must hold in their head.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles, type imports included.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'sharding-imports-only-errors',
      severity: 'error',
      comment: 'src/sharding/ is pure routing math: it imports nothing but errors (and itself).',
      from: { path: '^src/sharding/' },
      to: { pathNot: ['^src/sharding/', '^src/errors\\.ts$'] },
    },
    {
      name: 'drivers-only-in-adapters',
      severity: 'error',
      comment: 'Only adapters/ knows a database driver (tests and benches may open raw connections).',
      from: { path: '^(src|migrations)/' },
      to: { path: '(^|/)node_modules/(pg|mysql2|pg-[a-z-]+)/' },
    },
    {
      name: 'protocol-not-cli-or-testing',
      severity: 'error',
      comment: 'The protocol, transactions, recovery and contention know nothing of the CLI or of the testing servers.',
      from: { path: '^src/(protocol|recovery|transaction|contention)/' },
      to: { path: '^src/(cli|testing)/' },
    },
    {
      name: 'library-not-tests',
      severity: 'error',
      comment: 'Library code never imports tests, benches, scripts or examples.',
      from: { path: '^(src|adapters|migrations)/' },
      to: { path: '^(test|bench|scripts|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
}
