/**
 * Crypto hot-path micro-benchmarks: `npm exec -- node bench/crypto.bench.ts [--json] [--quick] [--filter=TEXT]`.
 *
 * Every case is first checked against the shared test vectors (a case that gives a wrong answer is reported
 * as such), then warmed up, then timed in ROUNDS rounds of one batch each (the batch size is calibrated
 * during the warm-up so that a batch takes about BATCH_MS). The table reports the median over rounds of
 * ops/s and of µs/op. With `--json` the markdown table goes to stderr and a JSON document to stdout.
 * The timing harness and the flags live in bench/harness.ts.
 */
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cbc } from '@noble/ciphers/aes.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 as nobleRipemd160 } from '@noble/hashes/legacy.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { keccak256, ripemd160, sha256 } from '../src/protocol/crypto/digest.ts';
import {
  EccPrivateKey,
  EccPublicKey,
  ecdsaSignNode,
  ecdsaVerifyNoble,
  ecdsaVerifyNode,
} from '../src/protocol/crypto/ecc.ts';
import { compactToDer, derToCompact } from '../src/protocol/crypto/ecdsa-der.ts';
import { secp256k1Backend, wasmSign, wasmVerify } from '../src/protocol/crypto/secp256k1-backend.ts';
import {
  base64Decode,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../src/protocol/crypto/encoding.ts';
import type { KeyDict } from '../src/protocol/crypto/key-dict.ts';
import { parsePrivateKey, parsePublicKey } from '../src/protocol/crypto/keys.ts';
import { RsaPrivateKey, RsaPublicKey } from '../src/protocol/crypto/rsa.ts';
import {
  AesKey,
  serializeSymmetricKey,
  symmetricKeyFromBytes,
} from '../src/protocol/crypto/symmetric-key.ts';
import { benchMeta, parseBenchArgs, report, runCases } from './harness.ts';
import type { Case } from './harness.ts';

const options = parseBenchArgs();

// ---- vectors ------------------------------------------------------------------------------------------

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedVectors = resolve(repoDir, '..', 'shared', 'vectors');
interface Vector {
  id: string;
  input: Record<string, unknown>;
  expected: Record<string, unknown>;
  cases?: Array<Record<string, string>>;
}
function loadVectors(name: string): Vector[] {
  let text: string;
  try {
    text = readFileSync(join(sharedVectors, name), 'utf8');
  } catch {
    text = readFileSync(join(repoDir, 'test', 'fixtures', 'vectors', name), 'utf8');
  }
  return (JSON.parse(text) as { vectors: Vector[] }).vectors;
}
function byId(vectors: Vector[], id: string): Vector {
  const v = vectors.find((x) => x.id === id);
  if (!v) throw new Error(`missing vector ${id}`);
  return v;
}
const keysFile = loadVectors('keys-and-signatures.json');
const idsFile = loadVectors('ids-and-metas.json');
const msgFile = loadVectors('messages.json');
const codings = byId(loadVectors('digests-and-codings.json'), 'V11').cases ?? [];

const hexKey = byId(keysFile, 'V10.hex-key');
const eccPriv = EccPrivateKey.fromDict({ algorithm: 'ECC', data: hexKey.input['private_key_hex'] as string });
const eccPub = eccPriv.publicKey;
const helloMsg = utf8Encode(hexKey.input['message_utf8'] as string);
const helloSig = hexDecode(hexKey.input['signature_der_hex'] as string);
const N = secp256k1.Point.CURVE().n;
const highSTwin = (() => {
  const sig = secp256k1.Signature.fromBytes(helloSig, 'der');
  return new secp256k1.Signature(sig.r, N - sig.s).toBytes('der');
})();
const v12a = byId(idsFile, 'V12a').input['meta'] as Record<string, unknown>;
const v12aKey = parsePublicKey(v12a['key']) as EccPublicKey;
const v12aSeed = utf8Encode(v12a['seed'] as string);
const v12aSig = base64Decode(v12a['fingerprint'] as string);
const ethSig = byId(keysFile, 'V10.eth-signature');
const ethMsg = hexDecode(ethSig.input['message_hex'] as string);
const ethDer = hexDecode(ethSig.input['signature_der_hex'] as string);
const ethPub = EccPrivateKey.fromDict({
  algorithm: 'ECC',
  data: ethSig.input['private_key_hex'] as string,
}).publicKey;

/** [public key, message, signature] triples that must verify (the twin and V12a are high-S). */
const eccVectors: Array<[EccPublicKey, Uint8Array, Uint8Array]> = [
  [eccPub, helloMsg, helloSig],
  [eccPub, helloMsg, highSTwin],
  [v12aKey, v12aSeed, v12aSig],
  [ethPub, ethMsg, ethDer],
];

const hulk = parsePrivateKey(byId(keysFile, 'V3.hulk').input['private_key']) as RsaPrivateKey;
const moki = parsePrivateKey(byId(keysFile, 'V3.moki').input['private_key']) as RsaPrivateKey;
const v2Meta = byId(idsFile, 'V2').input['meta'] as Record<string, unknown>;
const v1KeyDict = (byId(idsFile, 'V1').input['meta'] as Record<string, unknown>)['key'] as KeyDict;
const v4 = byId(msgFile, 'V4');
const v4Msg = v4.input['message'] as Record<string, string>;
const v4Data = base64Decode(v4Msg['data'] ?? '');
const v4Sig = base64Decode(v4Msg['signature'] ?? '');
const v4Key = base64Decode(v4Msg['key'] ?? '');
const v4KeyText = v4.expected['decrypted_key_json_text'] as string;
const v4Plain = v4.expected['plaintext'] as string;
/** The V10.hex-key public key as an SPKI PEM dict (what EccPublicKey emits). */
const eccPemDict: KeyDict = { algorithm: 'ECC', data: eccPub.dict.data as string };

// ---- cases --------------------------------------------------------------------------------------------

const signMessage = new Uint8Array(randomBytes(256));
const eccScalar = hexDecode(eccPriv.toDict().data as string);

/** noble's deterministic RFC 6979 signer (low-S by construction), for comparison with production. */
function nobleSign(message: Uint8Array): Uint8Array {
  return secp256k1.sign(message, eccScalar, { format: 'der' });
}

const aesRaw = new Uint8Array(randomBytes(32));
const aesKey = new AesKey(aesRaw);
const kib = new Uint8Array(randomBytes(1024));
const small = new Uint8Array(randomBytes(32));
const medium = new Uint8Array(randomBytes(128));
const point64 = eccPub.point.subarray(1);
const aesPayload = serializeSymmetricKey(AesKey.generate());
const hulkCipher = hulk.publicKey.encrypt(aesPayload);

function codingCase(fn: string): Array<[Uint8Array, string]> {
  return codings
    .filter((c) => c['function'] === fn)
    .map((c) => [utf8Encode(c['input_utf8'] ?? ''), c['output'] ?? '']);
}
const hashOk = (fn: string, hash: (d: Uint8Array) => Uint8Array): boolean =>
  codingCase(fn).length > 0 && codingCase(fn).every(([input, out]) => hexEncode(hash(input)) === out);

const v4AesKey = symmetricKeyFromBytes(utf8Encode(v4KeyText));
const v4Content = base64Decode(v4Msg['data'] ?? '');
const v4RawKey = base64Decode((JSON.parse(v4KeyText) as { data: string }).data);
const ZERO_IV = new Uint8Array(16);

const cases: Case[] = [
  {
    group: 'secp256k1 verify (DER, high-S accepted)',
    impl: `libsecp256k1 ${secp256k1Backend} (EccPublicKey.verify)`,
    production: true,
    check: () => eccVectors.every(([k, m, s]) => k.verify(m, s)) && !eccPub.verify(utf8Encode('x'), helloSig),
    run: () => eccPub.verify(helloMsg, helloSig),
  },
  {
    group: 'secp256k1 verify (DER, high-S accepted)',
    impl: 'libsecp256k1 wasm (tiny-secp256k1)',
    production: secp256k1Backend === 'wasm',
    check: () =>
      eccVectors.every(([k, m, s]) =>
        wasmVerify(sha256(m), k.point, derToCompact(s) ?? new Uint8Array(64)),
      ) && !wasmVerify(sha256(utf8Encode('x')), eccPub.point, derToCompact(helloSig) ?? new Uint8Array(64)),
    run: () => wasmVerify(sha256(helloMsg), eccPub.point, derToCompact(helloSig) ?? new Uint8Array(64)),
  },
  {
    group: 'secp256k1 verify (DER, high-S accepted)',
    impl: 'node:crypto (OpenSSL)',
    production: false,
    check: () =>
      eccVectors.every(([k, m, s]) => ecdsaVerifyNode(k.keyObject, m, s)) &&
      !ecdsaVerifyNode(eccPub.keyObject, utf8Encode('x'), helloSig),
    run: () => ecdsaVerifyNode(eccPub.keyObject, helloMsg, helloSig),
  },
  {
    group: 'secp256k1 verify (DER, high-S accepted)',
    impl: '@noble/curves lowS:false',
    production: false,
    check: () => eccVectors.every(([k, m, s]) => ecdsaVerifyNoble(k.point, m, s)),
    run: () => ecdsaVerifyNoble(eccPub.point, helloMsg, helloSig),
  },
  {
    group: 'secp256k1 sign (DER, low-S)',
    impl: `libsecp256k1 ${secp256k1Backend}, RFC 6979 (EccPrivateKey.sign)`,
    production: true,
    check: () => {
      for (let i = 0; i < 16; i++) {
        const s = eccPriv.sign(utf8Encode(`${i}`));
        if (!secp256k1.verify(s, utf8Encode(`${i}`), eccPub.point, { format: 'der' })) return false;
      }
      return true;
    },
    run: () => eccPriv.sign(signMessage),
  },
  {
    group: 'secp256k1 sign (DER, low-S)',
    impl: 'libsecp256k1 wasm (tiny-secp256k1), RFC 6979',
    production: secp256k1Backend === 'wasm',
    check: () => {
      const scalar = hexDecode(eccPriv.toDict().data as string);
      for (let i = 0; i < 16; i++) {
        const s = compactToDer(wasmSign(sha256(utf8Encode(`${i}`)), scalar));
        if (!secp256k1.verify(s, utf8Encode(`${i}`), eccPub.point, { format: 'der' })) return false;
      }
      return true;
    },
    run: () => compactToDer(wasmSign(sha256(signMessage), hexDecode(eccPriv.toDict().data as string))),
  },
  {
    group: 'secp256k1 sign (DER, low-S)',
    impl: 'node:crypto + low-S normalization',
    production: false,
    check: () => {
      for (let i = 0; i < 16; i++) {
        const s = ecdsaSignNode(eccPriv.keyObject, signMessage);
        if (!secp256k1.verify(s, signMessage, eccPub.point, { format: 'der' })) return false;
      }
      return true;
    },
    run: () => ecdsaSignNode(eccPriv.keyObject, signMessage),
  },
  {
    group: 'secp256k1 sign (DER, low-S)',
    impl: '@noble/curves (RFC 6979)',
    production: false,
    check: () => {
      const s = nobleSign(signMessage);
      return (
        eccPub.verify(signMessage, s) && secp256k1.verify(s, signMessage, eccPub.point, { format: 'der' })
      );
    },
    run: () => nobleSign(signMessage),
  },
  {
    group: 'RSA-1024 verify (PKCS#1 v1.5, SHA-256)',
    impl: 'node:crypto (RsaPublicKey.verify)',
    production: true,
    check: () =>
      moki.publicKey.verify(v4Data, v4Sig) &&
      parsePublicKey(v2Meta['key']).verify(utf8Encode('moki'), base64Decode(v2Meta['fingerprint'] as string)),
    run: () => moki.publicKey.verify(v4Data, v4Sig),
  },
  {
    group: 'RSA-1024 encrypt (PKCS#1 v1.5, 60-byte key JSON)',
    impl: 'node:crypto (RsaPublicKey.encrypt)',
    production: true,
    check: () => utf8Decode(hulk.decrypt(hulk.publicKey.encrypt(aesPayload))) === utf8Decode(aesPayload),
    run: () => hulk.publicKey.encrypt(aesPayload),
  },
  {
    group: 'RSA-1024 decrypt (PKCS#1 v1.5, implicit rejection)',
    impl: 'node:crypto (RsaPrivateKey.decrypt)',
    production: true,
    check: () => utf8Decode(hulk.decrypt(v4Key)) === v4KeyText,
    run: () => hulk.decrypt(hulkCipher),
  },
  {
    group: 'RSA-1024 sign (PKCS#1 v1.5, SHA-256)',
    impl: 'node:crypto (RsaPrivateKey.sign)',
    production: true,
    check: () =>
      Buffer.compare(moki.sign(v4Data), v4Sig) === 0 &&
      Buffer.compare(moki.sign(utf8Encode('moki')), base64Decode(v2Meta['fingerprint'] as string)) === 0,
    run: () => moki.sign(v4Data),
  },
  {
    group: 'AES-256-CBC encrypt+decrypt 1 KiB',
    impl: 'node:crypto (AesKey)',
    production: true,
    check: () => {
      const { ciphertext, iv } = aesKey.encrypt(kib);
      return (
        Buffer.compare(aesKey.decrypt(ciphertext, iv), kib) === 0 &&
        utf8Decode(v4AesKey.decrypt(v4Content)) === v4Plain
      );
    },
    run: () => {
      const { ciphertext, iv } = aesKey.encrypt(kib);
      return aesKey.decrypt(ciphertext, iv);
    },
  },
  {
    group: 'AES-256-CBC encrypt+decrypt 1 KiB',
    impl: '@noble/ciphers cbc',
    production: false,
    check: () => {
      const iv = new Uint8Array(randomBytes(16));
      const ct = cbc(aesRaw, iv).encrypt(kib);
      const viaNode = createDecipheriv('aes-256-cbc', aesRaw, iv);
      const nodePlain = Buffer.concat([viaNode.update(ct), viaNode.final()]);
      return (
        Buffer.compare(cbc(aesRaw, iv).decrypt(ct), kib) === 0 &&
        Buffer.compare(nodePlain, kib) === 0 &&
        utf8Decode(cbc(v4RawKey, ZERO_IV).decrypt(v4Content)) === v4Plain
      );
    },
    run: () => {
      const iv = new Uint8Array(randomBytes(16));
      const ct = cbc(aesRaw, iv).encrypt(kib);
      return cbc(aesRaw, iv).decrypt(ct);
    },
  },
  {
    group: 'SHA-256 of 32 B',
    impl: 'node:crypto createHash (digest.sha256)',
    production: true,
    check: () => hashOk('sha256', sha256),
    run: () => sha256(small),
  },
  {
    group: 'SHA-256 of 32 B',
    impl: '@noble/hashes sha256',
    production: false,
    check: () => hashOk('sha256', nobleSha256),
    run: () => nobleSha256(small),
  },
  {
    group: 'SHA-256 of 128 B (RSA-1024 fingerprint)',
    impl: 'node:crypto createHash (digest.sha256)',
    production: true,
    check: () => hashOk('sha256', sha256),
    run: () => sha256(medium),
  },
  {
    group: 'SHA-256 of 128 B (RSA-1024 fingerprint)',
    impl: '@noble/hashes sha256',
    production: false,
    check: () => hashOk('sha256', nobleSha256),
    run: () => nobleSha256(medium),
  },
  {
    group: 'SHA-256 of 1 KiB',
    impl: 'node:crypto createHash (digest.sha256)',
    production: true,
    check: () => hashOk('sha256', sha256),
    run: () => sha256(kib),
  },
  {
    group: 'SHA-256 of 1 KiB',
    impl: '@noble/hashes sha256',
    production: false,
    check: () => hashOk('sha256', nobleSha256),
    run: () => nobleSha256(kib),
  },
  {
    group: 'Keccak-256 of 64 B (ETH address)',
    impl: '@noble/hashes keccak_256 (digest.keccak256)',
    production: true,
    check: () => hashOk('keccak256', keccak256) && hashOk('keccak256', keccak_256),
    run: () => keccak256(point64),
  },
  {
    group: 'RIPEMD-160 of 32 B (BTC address)',
    impl: '@noble/hashes ripemd160 (digest.ripemd160)',
    production: true,
    check: () => hashOk('ripemd160', ripemd160) && hashOk('ripemd160', nobleRipemd160),
    run: () => ripemd160(small),
  },
  {
    group: 'RIPEMD-160 of 32 B (BTC address)',
    impl: 'node:crypto createHash',
    production: false,
    check: () => hashOk('ripemd160', (d) => new Uint8Array(createHash('ripemd160').update(d).digest())),
    run: () => new Uint8Array(createHash('ripemd160').update(small).digest()),
  },
  {
    group: 'parsePublicKey, RSA PEM',
    impl: 'parsePublicKey (cache hit)',
    production: true,
    check: () =>
      parsePublicKey(v1KeyDict).equals(hulk.publicKey) &&
      parsePublicKey(v1KeyDict) === parsePublicKey(v1KeyDict),
    run: () => parsePublicKey(v1KeyDict),
  },
  {
    group: 'parsePublicKey, RSA PEM',
    impl: 'cold PEM parse (RsaPublicKey.fromDict)',
    production: false,
    check: () => RsaPublicKey.fromDict(v1KeyDict).equals(hulk.publicKey),
    run: () => RsaPublicKey.fromDict(v1KeyDict),
  },
  {
    group: 'parsePublicKey, ECC PEM',
    impl: 'parsePublicKey (cache hit)',
    production: true,
    check: () =>
      parsePublicKey(eccPemDict).equals(eccPub) && parsePublicKey(eccPemDict) === parsePublicKey(eccPemDict),
    run: () => parsePublicKey(eccPemDict),
  },
  {
    group: 'parsePublicKey, ECC PEM',
    impl: 'cold PEM parse (EccPublicKey.fromDict)',
    production: false,
    check: () => EccPublicKey.fromDict(eccPemDict).equals(eccPub),
    run: () => EccPublicKey.fromDict(eccPemDict),
  },
  {
    group: 'parsePublicKey, ECC PEM',
    impl: 'cold PEM parse + first verify',
    production: false,
    check: () => EccPublicKey.fromDict(eccPemDict).verify(helloMsg, highSTwin),
    run: () => EccPublicKey.fromDict(eccPemDict).verify(helloMsg, helloSig),
  },
];

// ---- run ----------------------------------------------------------------------------------------------

const { results, elapsedS } = runCases(cases, options);
report(results, benchMeta(options, elapsedS), options);
