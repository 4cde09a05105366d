import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCli, type BuiltCli } from './built-cli.js'

// Planted in every file below, where a mistake puts it next to the error, or in the error.
const SECRET = `Pw${randomBytes(8).toString('hex')}`
const shard = (connection: unknown, more: object = {}): object => ({ id: 'pg-0', dialect: 'postgres', connection, ...more })
const url = `postgres://app:${SECRET}@127.0.0.1:1/app`
const json = (value: unknown): string => JSON.stringify(value, null, 2)

/** Malformed configs of every kind, each with the place (or kind) the CLI must report instead. */
const CASES: [file: string, text: string, reported: RegExp][] = [
  // The case: a trailing comma just after the password.
  ['trailing-comma.json', `{"shards":[{"id":"pg-0","dialect":"postgres","connection":{"password":"${SECRET}"}},]}`, /line 1, column \d+/],
  ['unterminated.json', `{\n  "shards": [\n    { "connection": "${url}`, /line 3, column \d+/],
  ['control-char.json', `{ "shards": [{ "connection": { "password": "${SECRET}\tx" } }] }`, /line 1, column \d+/],
  ['unquoted.json', `{ "shards": [{ "connection": { "password": ${SECRET} } }] }`, /line 1, column \d+/],
  ['missing-comma.json', `{\n  "shards": [{ "connection": "${url}" "log": "pg-0" }]\n}`, /line 2, column \d+/],
  ['after-value.json', `{ "shards": [] } ${SECRET}`, /line 1, column \d+/],
  // Well-formed, wrong types: the secret where another value belongs.
  ['dialect.json', json({ shards: [shard(url, { dialect: SECRET })] }), /shards\[0\]\.dialect: must be 'postgres' or 'mysql'/],
  ['duty-cycle.json', json({ shards: [shard(url)], recovery: { dutyCycle: SECRET } }), /recovery\.dutyCycle: must be a number/],
  ['shards-string.json', json({ shards: SECRET }), /shards: /],
  ['connection-number.json', json({ shards: [shard({ host: '127.0.0.1', password: SECRET, port: SECRET })] }), /connection\.port: must be an integer/],
  ['bad-url.json', json({ shards: [shard(`postgres://app:${SECRET}@127.0.0.1:port/app`)] }), /connection: /],
  ['options-string.json', json(SECRET), /config: must be the createCluster options object/],
  // JavaScript modules that fail to load or to produce the options.
  ['syntax.mjs', `export default {\n  shards: [{ connection: { password: '${SECRET}' },, }],\n}\n`, /cannot load config .*SyntaxError/],
  ['throws.mjs', `const password = '${SECRET}'\nthrow new Error('cannot log in with ' + password)\n`, /cannot load config .*Error at line 2/],
  ['reads-null.mjs', `const config = null\nexport default { shards: config['${SECRET}'] }\n`, /cannot load config .*TypeError at line 2/],
  ['function-throws.mjs', `export default async () => {\n  throw new Error('${SECRET}')\n}\n`, /its default function failed: Error at line 2/],
  ['throws-string.mjs', `export default () => { throw '${SECRET}' }\n`, /its default function failed: an error/],
  ['named.mjs', `const e = new Error('x')\ne.name = '${SECRET}Error'\ne.code = 'ERR_${SECRET.toUpperCase()}'\nthrow e\n`, /cannot load config .*: an error at line 1/],
  ['wrong-type.mjs', `export default { shards: [{ id: 'pg-0', dialect: '${SECRET}', connection: '${url}' }] }\n`, /dialect: must be/],
]

describe('a malformed config never shows its text, the built CLI says where the mistake is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-config-secrets-'))
  let cli: BuiltCli
  beforeAll(async () => {
    for (const [file, text] of CASES) writeFileSync(join(dir, file), text)
    cli = await buildCli()
  }, 180_000)
  afterAll(() => {
    cli?.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the planted secret really is in each file', () => {
    for (const [file, text] of CASES) expect(text, file).toContain(SECRET)
  })

  it.each(CASES)('%s: exit 2, the file and the place, no secret in stdout, stderr or --json', async (file, _text, reported) => {
    const [plain, asJson, verbose] = await Promise.all([
      cli.run(['status', '--config', file], { cwd: dir }),
      cli.run(['status', '--config', file, '--json'], { cwd: dir }),
      cli.run(['in-doubt', '--config', file, '--verbose'], { cwd: dir }),
    ])
    for (const run of [plain, asJson, verbose]) {
      expect(run.code).toBe(2)
      expect(run.stdout + run.stderr).not.toContain(SECRET)
      // Not even in pieces: the lower-cased form, or split at a quote by a message.
      expect((run.stdout + run.stderr).toLowerCase()).not.toContain(SECRET.toLowerCase())
      expect(run.stdout + run.stderr).not.toContain(SECRET.slice(0, 10))
    }
    expect(plain.stderr).toMatch(reported)
    if (!/^(dialect|duty|shards|connection|bad-url|options|wrong)/.test(file)) expect(plain.stderr).toContain(file)
    const answer = JSON.parse(asJson.stdout) as { error: { code: string; message: string; exitCode: number } }
    expect(answer.error).toEqual({ code: expect.stringMatching(/^(USAGE|CONFIG)$/), message: expect.stringMatching(reported), exitCode: 2 })
  })
})
