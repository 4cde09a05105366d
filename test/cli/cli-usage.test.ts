import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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
  mkdirSync(join(dir, 'a-folder.json'))
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
    [['status', '--config', 'a-folder.json'], /config is not a file/],
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
    // A byte order mark is not a JSON mistake: the config is read, and its real mistake named.
    ['bom.json', `\uFEFF${JSON.stringify({ shards: [] })}`, /shards: must list at least one shard/],
  ])('a config like %s exits 2 with a one-line message', async (file, text, message) => {
    writeFileSync(join(dir, file), text)
    const run = await shardtx(['status', '--config', file], dir)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(STACK_FRAME)
  })

  it.each([
    [['reshard'], /usage: shardtx reshard plan \| start/],
    [['reshard', 'move'], /usage: shardtx reshard plan --to <config>/],
    [['reshard', 'plan'], /reshard plan needs --to <config>/],
    [['reshard', 'start', '--batch-size', '10'], /reshard start needs --to <config>/],
    [['reshard', 'start', '--to', 'next.json', '--batch-size', '0'], /--batch-size must be a whole number of at least 1, not "0"/],
    [['reshard', 'start', '--to', 'next.json', '--batch-size', '1e3'], /--batch-size must be a whole number of at least 1, not "1e3"/],
    [['reshard', 'start', '--to', 'next.json', '--batch-size', ''], /--batch-size must be a whole number of at least 1, not ""/],
    [['reshard', 'start', '--to', 'next.json', '--duty-cycle', '1.5'], /--duty-cycle must be a number above 0 and at most 1, not "1.5"/],
    [['reshard', 'start', '--to', 'next.json', '--duty-cycle', '0'], /--duty-cycle must be a number above 0 and at most 1/],
    [['reshard', 'start', '--to', 'next.json', '--duty-cycle', 'half'], /--duty-cycle must be a number above 0 and at most 1/],
    [['reshard', 'start', '--to', 'next.json', '--max-batches', 'all'], /--max-batches must be a whole number of at least 1, not "all"/],
    [['reshard', 'start', '--to', 'next.json', '--max-batches', '-1'], /Option '--max-batches' argument is ambiguous\. Did you forget/],
    [['reshard', 'start', '--to'], /Option '--to <value>' argument missing/],
    [['reshard', 'plan', '--to', 'next.json', '--max-batches', '2'], /reshard plan takes no --max-batches/],
    [['reshard', 'reverse', '--batch-size', '10'], /reshard reverse takes no --batch-size: it moves back the batches the job was planned with/],
    [['reshard', 'status', '--to', 'next.json'], /reshard status takes no --to/],
    [['reshard', 'cancel', '--duty-cycle', '0.5'], /reshard cancel takes no --duty-cycle/],
    [['reshard', 'verify', '--allow-empty-move'], /reshard takes no --allow-empty-move/],
    [['reshard', 'verify', '--page-size', '0'], /--page-size must be a whole number of at least 1, not "0"/],
    [['reshard', 'verify', '--save', ''], /--save needs a file name/],
    [['reshard', 'start', '--to', 'next.json', '--save', 'progress.json'], /reshard start takes no --save/],
    [['reshard', 'status', '--against', 'before.json'], /reshard status takes no --against/],
    [['reshard', 'plan', '--to', 'next.json', '--page-size', '10'], /reshard plan takes no --page-size/],
    [['reshard', 'start', '--to', 'missing.json'], /config file not found: .*missing\.json/],
    [['reshard', 'plan', '--to', 'no-shards.json'], /--to: must be a config with a shards list/],
    [['reshard', 'plan', '--to', 'bad-id.json'], /--to shards\[0\]\.id: must be a string/],
  ])('%j exits 2 with one line', async (args, message) => {
    writeFileSync(join(dir, 'no-shards.json'), JSON.stringify({ prefix: 'x_' }))
    writeFileSync(join(dir, 'bad-id.json'), JSON.stringify({ shards: [{ id: 7 }] }))
    const run = await shardtx(args, dir)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(run.stdout).toBe('')
  })

  it('answers a mistake in JSON when asked for JSON', async () => {
    const run = await shardtx(['route', '--json', '--int', 'x'], dir)
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'USAGE', message: '"x" is not a whole number', exitCode: 2 } })
  })
})
