/**
 * DER ↔ compact ECDSA signatures, the libsecp256k1 signer/verifier against OpenSSL and noble, and its
 * native and WebAssembly builds against each other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { compactToDer, derToCompact } from '../../../src/protocol/crypto/ecdsa-der.ts';
import { EccPrivateKey, ecdsaVerifyNode, isHighS } from '../../../src/protocol/crypto/ecc.ts';
import { hexDecode, hexEncode } from '../../../src/protocol/crypto/encoding.ts';
import {
  nativeSign,
  nativeVerify,
  secp256k1Backend,
  wasmSign,
  wasmVerify,
} from '../../../src/protocol/crypto/secp256k1-backend.ts';
import { createPrng } from '../../helpers/seeded-prng.ts';

const N = secp256k1.Point.CURVE().n;

function compactOf(r: bigint, s: bigint): Uint8Array {
  return hexDecode(r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0'));
}

describe('ECDSA DER ↔ compact', () => {
  it('round-trips random signatures and matches noble’s DER byte for byte', () => {
    const prng = createPrng(0x5eed_d3e1);
    for (let i = 0; i < 500; i++) {
      // small values exercise short INTEGERs, high bits exercise the 0x00 sign byte
      const r = BigInt('0x' + hexEncode(prng.bytes(prng.range(1, 32)))) % N || 1n;
      const s = BigInt('0x' + hexEncode(prng.bytes(prng.range(1, 32)))) % N || 1n;
      const compact = compactOf(r, s);
      const der = compactToDer(compact);
      assert.deepEqual(der, new secp256k1.Signature(r, s).toBytes('der'));
      assert.deepEqual(derToCompact(der), compact);
    }
  });

  it('rejects what is not strict DER', () => {
    const der = compactToDer(compactOf(0x80n, 0x01n)); // r needs the 0x00 sign byte
    assert.equal(hexEncode(der), '3007020200800201' + '01');
    const cases: Record<string, string> = {
      empty: '',
      'not a SEQUENCE': '3107020200800201' + '01',
      'length mismatch': '3008020200800201' + '01',
      'trailing byte': '300802020080020101' + '00',
      'negative r': '30060201800201' + '01',
      'non-minimal r': '3008020300008002' + '0101',
      'zero-length s': '3006020200800200',
      'long-form length': '308107020200800201' + '01',
      'r of 33 bytes without sign byte': '3026022101' + '00'.repeat(32) + '020101',
    };
    for (const [name, hex] of Object.entries(cases))
      assert.equal(derToCompact(hexDecode(hex)), undefined, name);
    assert.throws(() => compactToDer(new Uint8Array(63)), RangeError);
  });
});

describe('libsecp256k1 signing and verifying', () => {
  it('signatures are low-S DER that OpenSSL and strict noble accept; high-S twins verify too', () => {
    const prng = createPrng(0xecc);
    for (let i = 0; i < 20; i++) {
      const key = EccPrivateKey.generate();
      const message = prng.bytes(prng.range(0, 300));
      const signature = key.sign(message);
      assert.equal(isHighS(signature), false);
      assert.ok(ecdsaVerifyNode(key.publicKey.keyObject, message, signature));
      assert.ok(secp256k1.verify(signature, message, key.publicKey.point, { format: 'der' }));
      assert.ok(key.publicKey.verify(message, signature));
      const sig = secp256k1.Signature.fromBytes(signature, 'der');
      const twin = new secp256k1.Signature(sig.r, N - sig.s).toBytes('der');
      assert.ok(key.publicKey.verify(message, twin));
      assert.equal(key.publicKey.verify(Uint8Array.of(...message, 0), signature), false);
      assert.equal(EccPrivateKey.generate().publicKey.verify(message, signature), false);
    }
  });

  it('r or s out of range, and non-strict DER, are refused as OpenSSL refuses them', () => {
    const key = EccPrivateKey.generate();
    const message = Uint8Array.of(1, 2, 3);
    const der = key.sign(message);
    const { r, s } = secp256k1.Signature.fromBytes(der, 'der');
    assert.equal(key.publicKey.verify(message, compactToDer(compactOf(r, N))), false);
    assert.equal(key.publicKey.verify(message, compactToDer(compactOf(r, s))), true);
    assert.equal(key.publicKey.verify(message, compactToDer(compactOf(0n, s))), false);
    // BER with a redundant leading zero: OpenSSL's verdict (reject) through the fallback
    const rBytes = compactToDer(compactOf(r, s));
    const rLen = rBytes[3] as number;
    const ber = new Uint8Array(rBytes.length + 1);
    ber.set([0x30, (rBytes[1] as number) + 1, 0x02, rLen + 1, 0x00], 0);
    ber.set(rBytes.subarray(4), 5);
    assert.equal(derToCompact(ber), undefined);
    assert.equal(key.publicKey.verify(message, ber), ecdsaVerifyNode(key.publicKey.keyObject, message, ber));
  });
});

describe('libsecp256k1 builds: native and WebAssembly agree', () => {
  it('the native addon loads on this platform (its prebuilt binary ships in the package)', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return t.skip('no prebuilt addon expected');
    assert.equal(secp256k1Backend, 'native');
  });

  it('same signatures byte for byte (RFC 6979) and the same verdicts, high-S and out-of-range included', (t) => {
    if (secp256k1Backend !== 'native') return t.skip('native addon not available');
    const prng = createPrng(0xb11d);
    for (let i = 0; i < 50; i++) {
      const key = EccPrivateKey.generate();
      const scalar = hexDecode(key.toDict().data as string);
      const point = key.publicKey.point;
      const digest = prng.bytes(32);
      const compact = nativeSign(digest, scalar);
      assert.deepEqual(compact, wasmSign(digest, scalar));
      const { r, s } = secp256k1.Signature.fromBytes(compactToDer(compact), 'der');
      assert.ok(s <= N / 2n, 'low-S');
      const cases: Array<[string, Uint8Array, Uint8Array, boolean]> = [
        ['valid', compact, point, true],
        ['high-S twin', compactOf(r, N - s), point, true],
        ['other digest', compact, point, false],
        ['other key', compact, EccPrivateKey.generate().publicKey.point, false],
        ['s = n', compactOf(r, N), point, false],
        ['r = 0', compactOf(0n, s), point, false],
        ['r = n', compactOf(N, s), point, false],
      ];
      for (const [name, sig, pub, expected] of cases) {
        const d = name === 'other digest' ? prng.bytes(32) : digest;
        const before = hexEncode(sig);
        assert.equal(nativeVerify(d, pub, sig), expected, `native: ${name}`);
        assert.equal(wasmVerify(d, pub, sig), expected, `wasm: ${name}`);
        assert.equal(hexEncode(sig), before, `${name}: the signature bytes are left as given`);
      }
    }
  });
});
