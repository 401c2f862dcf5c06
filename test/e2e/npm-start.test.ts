/**
 * `npm start` on a machine without Redis: workers/station.ts with no DIM_REDIS_URL runs every role in one
 * process, creates its identity on first start, says it is single-process, and relays between two clients.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient, createUserIdentity, KeyDirectory } from '../helpers/station-harness.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import { repoDir } from '../helpers/vectors.ts';

describe('npm start without Redis', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dim-start-'));
  let child: ChildProcess;
  let stdout = '';
  let stdoutOnly = '';
  let port = 0;
  const clients: DimClient[] = [];

  before(async () => {
    child = spawn(process.execPath, [join(repoDir, 'workers', 'station.ts')], {
      cwd: dir,
      env: {
        ...process.env,
        DIM_HOST: '127.0.0.1',
        DIM_PORT: '0',
        DIM_LOG_LEVEL: 'info',
        DIM_REDIS_URL: '',
        DIM_OPS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      stdoutOnly += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
    for (let i = 0; i < 300 && port === 0; i++) {
      const m = /listening on [\d.]+:(\d+)/.exec(stdout);
      if (m) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(port > 0, `station did not start:\n${stdout}`);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates its identity, warns it is single-process, and two clients message through it', async () => {
    assert.match(stdout, /created station identity \S+@\S+ in .*station\.json/);
    assert.match(stdout, /EMBEDDED_ENGINE/);
    const directory = new KeyDirectory();
    const now = Date.now() / 1000;
    const alice = createUserIdentity({ kind: 'eth', now });
    const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now });
    directory.add(alice);
    directory.add(bob);
    const a = await connectClient(port, 'mtp', alice, directory);
    const b = await connectClient(port, 'mtp', bob, directory);
    clients.push(a, b);
    await a.handshake();
    await b.handshake();
    const mark = b.mark();
    await a.sendText(bob.id, 'hi from npm start');
    const got = await b.waitForMessage((m) => m.sender.isSameAs(alice.id), 5000, { since: mark });
    assert.equal(got.content.dict['text'], 'hi from npm start');
  });

  it('writes only JSON lines to stdout (no human lines mixed in), and warns loudly that the visa has no public host', () => {
    const lines = stdoutOnly.split('\n').filter((l) => l.trim().length > 0);
    assert.ok(lines.length > 3);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    const warning = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r['code'] === 'NO_PUBLIC_HOST');
    assert.ok(warning, 'NO_PUBLIC_HOST');
    assert.match(String(warning['msg']), /identity -- update/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    assert.equal(child.exitCode, null, `the station exited early:\n${stdout}`);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
    assert.match(stdout, /NODE_CLOSED/);
  });
});

describe('station start errors are JSON', { timeout: 60_000 }, () => {
  const start = (
    env: Record<string, string>,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const dir = mkdtempSync(join(tmpdir(), 'dim-start-'));
      const child = spawn(process.execPath, [join(repoDir, 'workers', 'station.ts')], {
        cwd: dir,
        env: { PATH: process.env['PATH'] ?? '', DIM_HOST: '127.0.0.1', DIM_PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => {
        rmSync(dir, { recursive: true, force: true });
        resolve({ code, stdout, stderr });
      });
    });

  it('a misspelt variable stops the start with a JSON CONFIG_INVALID line naming the closest one (exit 78)', async () => {
    const { code, stdout, stderr } = await start({ DIM_MAX_FRAME_BYTE: '7' });
    assert.equal(code, 78);
    assert.equal(stderr, '');
    const record = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    assert.equal(record['code'], 'CONFIG_INVALID');
    assert.equal(record['level'], 60);
    assert.match(String(record['msg']), /DIM_MAX_FRAME_BYTE .*did you mean DIM_MAX_FRAME_BYTES\?/);
  });

  it('a fatal start error (unreadable key file) is a JSON FATAL line with the error (exit 1)', async () => {
    const { code, stdout, stderr } = await start({ DIM_KEY_FILE: '/proc/version' });
    assert.equal(code, 1);
    assert.equal(stderr, '');
    const record = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    assert.equal(record['code'], 'FATAL');
    assert.ok(typeof (record['err'] as Record<string, unknown>)['message'] === 'string');
  });
});
