import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mayBeProxyHeader, parseProxyHeader } from '../../../src/transport/proxy-protocol.ts';
import { isTransportError } from '../../../src/transport/transport-error.ts';

function v2(command: number, family: number, body: Buffer): Buffer {
  const header = Buffer.alloc(16);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header);
  header[12] = 0x20 | command;
  header[13] = family;
  header.writeUInt16BE(body.length, 14);
  return Buffer.concat([header, body]);
}

function ipv4Body(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(src).copy(body, 0);
  Buffer.from(dst).copy(body, 4);
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(dport, 10);
  return body;
}

describe('PROXY protocol v1', () => {
  it('parses TCP4 and TCP6 lines and leaves the payload', () => {
    const buf = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 9394\r\nDIM');
    assert.deepEqual(parseProxyHeader(buf), {
      status: 'ok',
      consumed: buf.length - 3,
      source: { address: '203.0.113.7', port: 51234 },
    });
    const v6 = Buffer.from('PROXY TCP6 2001:db8::1 ::1 40000 9394\r\n');
    assert.deepEqual(parseProxyHeader(v6), {
      status: 'ok',
      consumed: v6.length,
      source: { address: '2001:db8::1', port: 40000 },
    });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), {
      status: 'ok',
      consumed: 15,
      source: undefined,
    });
  });

  it('waits for the end of line, split at every offset', () => {
    const line = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n');
    for (let i = 0; i < line.length; i++) {
      assert.equal(parseProxyHeader(line.subarray(0, i)).status, 'incomplete', `offset ${i}`);
      assert.equal(mayBeProxyHeader(line.subarray(0, i)), true);
    }
    assert.equal(parseProxyHeader(line).status, 'ok');
  });

  it('rejects malformed lines with a coded error', () => {
    for (const text of [
      'PROXY TCP4 1.2.3.4\r\n',
      'PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n',
      'PROXY TCP4 not-an-ip 1.2.3.4 1 2\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}`,
      // addresses that only look like addresses (issue 13: 999.999.999.999 was accepted)
      'PROXY TCP4 999.999.999.999 10.0.0.1 1 2\r\n',
      'PROXY TCP4 1.2.3.256 10.0.0.1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 10.0.0.999 1 2\r\n',
      'PROXY TCP4 ::1 10.0.0.1 1 2\r\n',
      'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
      'PROXY TCP6 ::::: ::1 1 2\r\n',
      'PROXY TCP6 2001:db8::g ::1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 1 99999\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n',
    ]) {
      assert.throws(
        () => parseProxyHeader(Buffer.from(text)),
        (e) => isTransportError(e, 'PROXY_BAD_HEADER'),
        text,
      );
    }
    assert.throws(
      () => parseProxyHeader(Buffer.from('DIMB')),
      (e) => isTransportError(e, 'PROXY_MISSING'),
    );
    assert.equal(mayBeProxyHeader(Buffer.from('DIM')), false);
  });
});

describe('PROXY protocol v2', () => {
  it('parses IPv4 and IPv6 PROXY commands', () => {
    const buf = Buffer.concat([
      v2(1, 0x11, ipv4Body([198, 51, 100, 9], [10, 0, 0, 1], 61000, 9394)),
      Buffer.from('GET /'),
    ]);
    assert.deepEqual(parseProxyHeader(buf), {
      status: 'ok',
      consumed: 28,
      source: { address: '198.51.100.9', port: 61000 },
    });
    const body6 = Buffer.alloc(36);
    body6[0] = 0x20;
    body6[1] = 0x01;
    body6[15] = 0x05;
    body6.writeUInt16BE(4242, 32);
    const res = parseProxyHeader(v2(1, 0x21, body6));
    assert.deepEqual(res, {
      status: 'ok',
      consumed: 52,
      source: { address: '2001:0:0:0:0:0:0:5', port: 4242 },
    });
  });

  it('LOCAL commands (health checks) carry no address, TLVs are skipped', () => {
    assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), {
      status: 'ok',
      consumed: 16,
      source: undefined,
    });
    const withTlv = v2(
      1,
      0x11,
      Buffer.concat([ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.from([0x04, 0x00, 0x01, 0x00])]),
    );
    assert.deepEqual(parseProxyHeader(withTlv), {
      status: 'ok',
      consumed: withTlv.length,
      source: { address: '1.2.3.4', port: 1 },
    });
  });

  it('is incomplete until the whole header arrived', () => {
    const buf = v2(1, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    for (let i = 0; i < buf.length; i++)
      assert.equal(parseProxyHeader(buf.subarray(0, i)).status, 'incomplete', `offset ${i}`);
  });

  it('rejects bad versions, commands and short address blocks', () => {
    const bad = v2(1, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    bad[12] = 0x11;
    assert.throws(
      () => parseProxyHeader(bad),
      (e) => isTransportError(e, 'PROXY_BAD_HEADER'),
    );
    assert.throws(
      () => parseProxyHeader(v2(5, 0x11, Buffer.alloc(12))),
      (e) => isTransportError(e, 'PROXY_BAD_HEADER'),
    );
    assert.throws(
      () => parseProxyHeader(v2(1, 0x11, Buffer.alloc(4))),
      (e) => isTransportError(e, 'PROXY_BAD_HEADER'),
    );
  });
});
