import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../workers/identity.ts', import.meta.url));

test('identity create writes a 0600 key file, prints the ID, and refuses to overwrite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dim-identity-'));
  try {
    const out = join(dir, 'keys', 'station.json');
    const first = await run(process.execPath, [
      cli,
      'create',
      '--out',
      out,
      '--name',
      'gsp-e2e',
      '--rsa-bits',
      '1024',
    ]);
    const id = first.stdout.trim();
    assert.match(id, /^gsp-e2e@[1-9A-HJ-NP-Za-km-z]{26,35}$/);
    const file = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(file.id, id);
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    await assert.rejects(
      run(process.execPath, [cli, 'create', '--out', out]),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /refusing to overwrite/);
        return true;
      },
    );
    assert.equal(JSON.parse(await readFile(out, 'utf8')).id, id, 'the existing file is untouched');
    const shown = await run(process.execPath, [cli, 'show', out]);
    assert.equal(JSON.parse(shown.stdout).id, id);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('identity update re-signs the visa with a new host/port (same ID and keys); the station warns when its visa has no host', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dim-identity-'));
  try {
    const out = join(dir, 'station.json');
    const id = (
      await run(process.execPath, [cli, 'create', '--out', out, '--rsa-bits', '1024'])
    ).stdout.trim();
    const before = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(JSON.parse(before.visa.data).host, undefined);
    const updated = await run(process.execPath, [
      cli,
      'update',
      out,
      '--host',
      'chat.example.com',
      '--port',
      '9400',
    ]);
    assert.deepEqual(JSON.parse(updated.stdout), { id, host: 'chat.example.com', port: 9400 });
    const after = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(after.id, id);
    assert.deepEqual(after.identity_key, before.identity_key, 'same keys');
    const visa = JSON.parse(after.visa.data);
    assert.equal(visa.host, 'chat.example.com');
    assert.equal(visa.port, 9400);
    assert.ok(visa.time > JSON.parse(before.visa.data).time, 'a newer visa');
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    // the file still loads (the visa verifies with the meta key)
    assert.equal(JSON.parse((await run(process.execPath, [cli, 'show', out])).stdout).id, id);
    await assert.rejects(
      run(process.execPath, [cli, 'update', out]),
      (err: { code: number }) => err.code === 2,
    );
    await assert.rejects(
      run(process.execPath, [cli, 'update', out, '--port', '99999']),
      (err: { code: number }) => err.code === 2,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
