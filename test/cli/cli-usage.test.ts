import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { newTransactionId } from '../../src/protocol/ids/transaction-id.js'
import { sharedShards } from '../support/shared-cluster.js'
import { runInProcess } from './in-process-cli.js'

/** A stack frame line, as Node prints them: user mistakes must never show one. */
const STACK_FRAME = /^\s+at .+[(:]\d+/m

const shardtx = runInProcess

describe('shardtx usage and config mistakes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardtx-cli-usage-'))
  writeFileSync(join(dir, 'shardtx.config.json'), JSON.stringify({ shards: sharedShards(), recovery: false }))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.each([
    [['stauts'], /unknown command "stauts"/],
    [[], /no command given/],
    [['status', '--int'], /status takes no --int/],
    [['status', '--nope'], /Unknown option '--nope'/],
    [['status', 'extra'], /usage: shardtx status/],
    [['resolve', 'x'], /usage: shardtx resolve <txId> commit\|abort/],
    [['resolve', newTransactionId(Date.now(), 1000), 'maybe'], /must be commit or abort/],
    [['resolve', 'not-an-id', 'abort'], /"not-an-id" is not a shardtx transaction id/],
    [['route', '--int', '1.5'], /"1.5" is not a whole number/],
    [['route', '--int', '--bigint', '1'], /--int or --bigint, not both/],
    [['route', '--int', '99999999999999999999'], /use --bigint/],
    [['migrate', '--directory', 'x'], /go with migrate --shards/],
    [['migrate', '--shards', '--directory', 'nope'], /directory: no such folder/],
    [['migrate', '--shards', '--only', 'pg-0,pg-9', '--directory', '.'], /unknown shard "pg-9"/],
    [['status', '--config', 'missing.json'], /config file not found/],
  ])('%j exits 2 with a one-line message', async (args, message) => {
    const run = await shardtx(args, dir)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(STACK_FRAME)
    expect(run.stdout).toBe('')
  })

  it.each([
    ['bad.json', '{ "shards": [ }', /is not valid JSON/],
    ['typo.json', JSON.stringify({ shards: sharedShards(), prefx: 'x' }), /prefx: unknown option/],
    ['array.json', '[]', /config: must be the createCluster options object/],
    ['recovery.json', JSON.stringify({ shards: sharedShards(), recovery: 'yes' }), /recovery: must be an object/],
    ['config.yaml', 'shards: []', /must be \.js, \.mjs, \.cjs or \.json/],
    ['no-default.mjs', 'export const shards = []', /has no default export/],
    ['throws.mjs', "export default () => { throw new Error('no env') }", /its default function failed: Error at line 1/],
    ['syntax.mjs', 'export default {', /cannot load config/],
  ])('a config like %s exits 2 with a one-line message', async (file, text, message) => {
    writeFileSync(join(dir, file), text)
    const run = await shardtx(['status', '--config', file], dir)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(STACK_FRAME)
  })

  it('answers a mistake in JSON when asked for JSON', async () => {
    const run = await shardtx(['route', '--json', '--int', 'x'], dir)
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'USAGE', message: '"x" is not a whole number', exitCode: 2 } })
  })
})
