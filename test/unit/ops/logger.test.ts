/** Log redaction at any depth (issue 13: nested private keys were logged). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { REDACTED, createLogger, redactDeep } from '../../../src/ops/logger.ts';

describe('logger redaction', () => {
  it('replaces secret fields wherever they are nested, keeps everything else', () => {
    const out = redactDeep({
      code: 'X',
      file: { identity_key: { data: 'PRIVATE' }, decrypt_keys: [{ data: 'PRIVATE' }], id: 'station@x' },
      entry: { msg: { data: 'CIPHERTEXT', signature: 'SIG', sender: 'a@b' } },
      list: [{ a: { b: { c: { privateKey: 'PRIVATE' } } } }],
      push: { token: 'DEVICE-TOKEN' },
    });
    const text = JSON.stringify(out);
    for (const secret of ['PRIVATE', 'CIPHERTEXT', 'SIG', 'DEVICE-TOKEN'])
      assert.ok(!text.includes(secret), secret);
    assert.ok(text.includes('station@x') && text.includes('a@b'));
    assert.equal((out['file'] as Record<string, unknown>)['identity_key'], REDACTED);
  });

  it('is applied by the station logger, also to cycles and very deep values', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = createLogger('info', 'test', sink);
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic['self'] = cyclic;
    let deep: Record<string, unknown> = { private_key: 'PRIVATE' };
    for (let i = 0; i < 100; i += 1) deep = { next: deep };
    logger.warn({ code: 'T', details: { nested: { identity_key: 'PRIVATE' } }, cyclic, deep }, 'hello');
    const record = JSON.parse(lines.join('')) as Record<string, unknown>;
    assert.equal(record['code'], 'T');
    assert.ok(!lines.join('').includes('PRIVATE'));
  });
});
