/**
 * The error catalogue and the README stay in step (issue 13): the README's "Error codes" table is the
 * rendered catalogue, and every code a client can be sent (refusal receipts, close codes) is catalogued.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, catalogueEntry, renderErrorTable } from '../../../src/errors/error-catalogue.ts';
import { repoDir } from '../../helpers/vectors.ts';

/** Codes of a TypeScript string-literal union, read from the source (types do not exist at run time). */
function unionMembers(file: string, typeName: string): string[] {
  const source = readFileSync(join(repoDir, file), 'utf8');
  const start = source.indexOf(`type ${typeName} =`);
  assert.ok(start >= 0, `${typeName} in ${file}`);
  const end = source.indexOf(';', start);
  return [...source.slice(start, end).matchAll(/'([A-Z_]+)'/g)].map((m) => m[1] as string);
}

describe('error catalogue', () => {
  it('has unique codes, each with a meaning', () => {
    const codes = ERROR_CATALOGUE.map((e) => e.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const e of ERROR_CATALOGUE) assert.ok(e.meaning.length > 10, e.code);
  });

  it('holds every close code and every refusal code a client can be sent', () => {
    const sent = [
      ...unionMembers('src/transport/client-channel.ts', 'CloseCode'),
      ...unionMembers('src/gateway/session-refusals.ts', 'RejectCode'),
    ];
    const protocol = unionMembers('src/protocol/protocol-error.ts', 'ProtocolErrorCode');
    // protocol errors reach clients when they concern a message's envelope or attachments
    const reachClients = [
      'BAD_JSON',
      'BAD_MESSAGE',
      'BAD_ENVELOPE',
      'BAD_TIME',
      'NESTING_TOO_DEEP',
      'FIELD_TOO_LARGE',
      'BAD_CONTENT',
      'BAD_META',
      'META_MISMATCH',
      'BAD_DOCUMENT',
      'SIGNATURE_INVALID',
      'VERIFY_KEY_NOT_FOUND',
    ];
    for (const code of reachClients) assert.ok(protocol.includes(code), code);
    for (const code of [...sent, ...reachClients])
      assert.ok(catalogueEntry(code), `${code} is not in the catalogue`);
  });

  it('is the README "Error codes" table, row for row (after adding a code, paste renderErrorTable() and run npm run format)', () => {
    const readme = readFileSync(join(repoDir, 'README.md'), 'utf8');
    const cells = (text: string): string[][] =>
      text
        .split('\n')
        .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
        .map((line) =>
          line
            .slice(1, -1)
            .split(/(?<!\\)\|/)
            .map((cell) => cell.trim()),
        );
    const heading = readme.indexOf('\n## Error codes\n');
    assert.ok(heading >= 0, 'README.md has an "## Error codes" section');
    const next = readme.indexOf('\n## ', heading + 5);
    const section = readme.slice(heading, next < 0 ? undefined : next);
    assert.deepEqual(
      cells(section),
      cells(renderErrorTable()),
      `the README table must be:\n\n${renderErrorTable()}\n`,
    );
  });
});
