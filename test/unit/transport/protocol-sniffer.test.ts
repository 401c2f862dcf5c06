import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sniffProtocol } from '../../../src/transport/protocol-sniffer.ts';

describe('protocol sniffing', () => {
  const upgrade = Buffer.from(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  const mtp = Buffer.from('44494d42e06e3213bdae063d00000002', 'hex');

  it('classifies MTP and WebSocket however the first read is split', () => {
    for (let i = 1; i <= 16; i++) {
      const expected = i < 3 ? 'incomplete' : 'mtp';
      assert.equal(sniffProtocol(mtp.subarray(0, i)), expected, `mtp prefix ${i}`);
    }
    for (let i = 1; i <= upgrade.length; i++) {
      const expected = i < 4 ? 'incomplete' : 'websocket';
      assert.equal(sniffProtocol(upgrade.subarray(0, i)), expected, `ws prefix ${i}`);
    }
  });

  it('waits on an empty read and rejects anything else', () => {
    assert.equal(sniffProtocol(Buffer.alloc(0)), 'incomplete');
    for (const text of ['POST / HTTP/1.1\r\n', 'DIX', 'GEt /', '{"sender":1}', '\x16\x09']) {
      assert.equal(sniffProtocol(Buffer.from(text)), 'unknown', JSON.stringify(text));
    }
  });

  it('recognises a TLS handshake record (MTP over TLS, WSS), one byte at a time', () => {
    assert.equal(sniffProtocol(Buffer.from([0x16])), 'incomplete');
    assert.equal(sniffProtocol(Buffer.from([0x16, 0x03])), 'tls');
    assert.equal(sniffProtocol(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'tls');
  });
});
