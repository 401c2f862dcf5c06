/**
 * Addresses and IDs: vectors/addresses.json (V9 live IDs with their legacy network bytes, broadcast IDs,
 * V10 BTC/ETH address generation and EIP-55, V8/V9 deployment configs) and the ID parser's rules
 * (terminals, naked IDs, case-insensitive broadcast words, interning, error codes, unknown addresses).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import bs58 from 'bs58';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import {
  btcAddress,
  eip55,
  ethAddress,
  isValidEip55,
  parseAddress,
} from '../../../src/protocol/mkm/address.ts';
import { EntityType } from '../../../src/protocol/mkm/entity-type.ts';
import {
  ANY_STATION,
  ANYONE,
  EVERY_STATION,
  EVERYONE,
  FOUNDER,
  MAX_ID_LENGTH,
  parseId,
  tryParseId,
} from '../../../src/protocol/mkm/identifier.ts';
import { MetaType, parseMeta } from '../../../src/protocol/mkm/meta.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { vectorById } from '../../helpers/vectors.ts';

const FILE = 'addresses.json';

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Independent BTC-style checksum check: 25 bytes, last 4 = first 4 of sha256(sha256(first 21)). */
function base58ChecksumValid(text: string): boolean {
  const bytes = bs58.decode(text);
  if (bytes.length !== 25) return false;
  const check = sha256(sha256(bytes.subarray(0, 21))).subarray(0, 4);
  return Buffer.compare(Buffer.from(check), Buffer.from(bytes.subarray(21))) === 0;
}

interface DecodedId {
  identifier: string;
  address_length: number;
  address_kind: 'BTC' | 'ETH';
  network: number | null;
  base58_checksum_valid?: boolean;
  eip55_checksum_valid?: boolean;
  meaning: string;
}

/** Entity types expected after the legacy mapping, written out per ID (not computed from the mapping table). */
const EXPECTED_TYPE: Record<string, number> = {
  'gsp-s109@rSWMVqbwTz4radJFrpfcYzQo9XibhZC7w': EntityType.STATION,
  'gsp-s100@2Bsp9RYBeQeQxvmLaHJ6CZJRAterPYPDBD': EntityType.STATION,
  'gsp-s203@vm2wp9y9X2tCPfwH3mY5JKgM3beFKcRxB': EntityType.STATION,
  'gsp-hk4@2AF3HkMockiHSXfABQuBGdGWbxaUVy7s83': EntityType.STATION,
  'archivist@2PaF5csHmt8n1e2wdDimHHyj1HrdW3QZur9': EntityType.BOT, // 0xC8
  'announcer@2eeuFaNRGPYZo8axm2q7sH98UaFCQedqsE': EntityType.BOT,
  'monitor@2sHT1d2y81sKUzAUJGbXjL5jXcjo3keX1P': EntityType.BOT,
  'usher@2wtScvzSouByJm8v7Whbuui1YLZPBHT6wv': EntityType.BOT,
  'ChatGPT@2yiWdbVHhUhN3uTScP9p3qi2V2zvGWbSxK': EntityType.BOT,
  'Gemini@2iqbZy3zcETL19V3Sonaeqxfk4S49zpakG': EntityType.BOT,
  'hulk@4YeVEN3aUnvC1DNUufCq1bs9zoBSJTzVEj': EntityType.USER, // 0x08
  'moky@4DnqXWdTV8wuZgfqSCX9GjE2kNq7HJrUgQ': EntityType.USER, // 0x08
  'Group-1280719982@7oMeWadRw4qat2sL4mTdcQSDAqZSo7LH5G': EntityType.GROUP, // 0x10
  '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa': EntityType.USER, // no name
  '0x952718A18C6b21abb593D84203282fe1c21773D6': EntityType.USER, // no name, ETH
};

describe('addresses.json V9.decoded-ids', () => {
  const vector = vectorById(FILE, 'V9.decoded-ids');
  const decoded = vector.expected?.['decoded'] as DecodedId[];

  it('lists the same IDs as its input, all covered here', () => {
    assert.deepEqual(
      decoded.map((d) => d.identifier),
      vector.input?.['identifiers'],
    );
    assert.deepEqual(decoded.map((d) => d.identifier).sort(), Object.keys(EXPECTED_TYPE).sort());
  });

  for (const entry of decoded) {
    it(`${entry.identifier}: ${entry.meaning}`, () => {
      const id = parseId(entry.identifier);
      assert.equal(id.string, entry.identifier);
      assert.equal(id.address.text.length, entry.address_length);
      const expectedType = EXPECTED_TYPE[entry.identifier];
      assert.equal(id.type, expectedType);
      assert.equal(id.isBroadcast, false);
      assert.equal(id.isGroup, expectedType === EntityType.GROUP);
      assert.equal(id.isUser, expectedType !== EntityType.GROUP);
      assert.equal(id.isBot, expectedType === EntityType.BOT);
      assert.equal(id.isStation, expectedType === EntityType.STATION);
      if (entry.address_kind === 'BTC') {
        assert.equal(id.address.kind, 'btc');
        assert.equal(id.address.network, entry.network);
        assert.equal(bs58.decode(id.address.text)[0], entry.network);
        assert.equal(base58ChecksumValid(id.address.text), entry.base58_checksum_valid);
      } else {
        assert.equal(id.address.kind, 'eth');
        assert.equal(id.address.network, EntityType.USER);
        assert.equal(isValidEip55(id.address.text), entry.eip55_checksum_valid);
        assert.equal(isValidEip55(id.address.text.toLowerCase()), false);
      }
      if (id.name === undefined) assert.equal(id.type, EntityType.USER);
    });
  }

  it('a name on a bare address changes nothing but the raw-byte mapping (0x00 stays USER)', () => {
    const named = parseId('satoshi@1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa');
    assert.equal(named.address.network, 0);
    assert.equal(named.type, EntityType.USER);
  });

  it('an ID without a name is a USER even when the network byte says otherwise', () => {
    const group = parseId('Group-1280719982@7oMeWadRw4qat2sL4mTdcQSDAqZSo7LH5G');
    const bare = parseId(group.address.text);
    assert.equal(bare.address.network, 0x10);
    assert.equal(bare.type, EntityType.USER);
    assert.equal(bare.isGroup, false);
    const station = parseId('2Bsp9RYBeQeQxvmLaHJ6CZJRAterPYPDBD');
    assert.equal(station.address.network, 0x02);
    assert.equal(station.type, EntityType.USER);
  });
});

describe('addresses.json V9.broadcast-ids', () => {
  const vector = vectorById(FILE, 'V9.broadcast-ids');
  const ids = vector.input?.['identifiers'] as string[];

  it('all are broadcast IDs', () => {
    assert.equal(vector.expected?.['all_broadcast'], true);
    assert.ok(ids.length >= 10);
    for (const text of ids) {
      const id = parseId(text);
      assert.equal(id.isBroadcast, true, text);
      assert.equal(id.address.kind, 'broadcast', text);
      const everywhere = text.endsWith('@everywhere');
      assert.equal(id.type, everywhere ? EntityType.EVERY : EntityType.ANY, text);
      assert.equal(id.address.network, everywhere ? 0x81 : 0x80, text);
      assert.equal(id.isGroup, everywhere, text);
      assert.equal(id.isUser, !everywhere, text);
    }
  });

  it('the well-known constants are these IDs', () => {
    assert.equal(ANYONE.string, 'anyone@anywhere');
    assert.equal(EVERYONE.string, 'everyone@everywhere');
    assert.equal(FOUNDER.string, 'moky@anywhere');
    assert.equal(ANY_STATION.string, 'station@anywhere');
    assert.equal(EVERY_STATION.string, 'stations@everywhere');
    for (const id of [ANYONE, EVERYONE, FOUNDER, ANY_STATION, EVERY_STATION]) {
      assert.ok(ids.includes(id.string));
      assert.equal(parseId(id.string), id);
    }
  });

  it('ordinary addresses are not broadcast', () => {
    assert.equal(parseId('moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk').isBroadcast, false);
    assert.equal(parseId('anywhere@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk').isBroadcast, false);
  });
});

describe('addresses.json V10.addresses', () => {
  const vector = vectorById(FILE, 'V10.addresses');
  const inputs = vector.input?.['cases'] as Array<{ private_key_hex: string }>;
  const outputs = vector.expected?.['cases'] as Array<Record<string, string | null>>;

  it('has as many expectations as inputs', () => {
    assert.equal(inputs.length, outputs.length);
    assert.equal(inputs.length, 3);
  });

  inputs.forEach((input, index) => {
    const expected = outputs[index] as Record<string, string | null>;
    it(`case ${index}: BTC (network 0) and ETH addresses of ${input.private_key_hex.slice(0, 8)}…`, () => {
      const secret = Buffer.from(input.private_key_hex, 'hex');
      const uncompressed = secp256k1.getPublicKey(secret, false);
      const compressed = secp256k1.getPublicKey(secret, true);
      assert.equal(uncompressed.length, 65);
      assert.deepEqual(new EccPrivateKey(secret).publicKey.point, uncompressed);

      const btcU = btcAddress(uncompressed, 0);
      assert.equal(btcU.kind, 'btc');
      assert.equal(btcU.network, 0);
      assert.equal(btcU.text, expected['btc_address_network_0x00_uncompressed_key']);
      assert.equal(parseAddress(btcU.text).kind, 'btc');
      assert.equal(parseAddress(btcU.text).network, 0);
      assert.notEqual(btcAddress(uncompressed, 0x08).text, btcU.text);

      const btcC = btcAddress(compressed, 0);
      if (expected['btc_address_network_0x00_compressed_key'] !== undefined) {
        assert.equal(btcC.text, expected['btc_address_network_0x00_compressed_key']);
      }
      assert.notEqual(btcC.text, btcU.text);

      // the same through a BTC meta (type 2): the key dict's `compressed` flag selects the key data
      const hex = Buffer.from(uncompressed).toString('hex');
      const btcMeta = parseMeta({ type: 'btc', key: { algorithm: 'ECC', data: hex } });
      assert.equal(btcMeta.type, MetaType.BTC);
      assert.equal(btcMeta.generateAddress(0).text, btcU.text);
      const btcMetaC = parseMeta({ type: 2, key: { algorithm: 'ECC', data: hex, compressed: true } });
      assert.equal(btcMetaC.generateAddress(0).text, btcC.text);
      assert.equal(btcMetaC.matches(parseId(btcC.text)), true);
      assert.equal(btcMetaC.matches(parseId(btcU.text)), false);

      const eth = ethAddress(uncompressed);
      assert.equal(eth.kind, 'eth');
      assert.equal(eth.network, EntityType.USER);
      assert.equal(ethAddress(uncompressed.subarray(1)).text, eth.text); // 64-byte x‖y accepted
      if (expected['eth_address_eip55'] !== null) {
        assert.equal(eth.text, expected['eth_address_eip55']);
        assert.equal(isValidEip55(eth.text), true);
      }
      throwsCode(() => ethAddress(compressed), 'BAD_KEY');
    });
  });
});

describe('addresses.json V10.eip55', () => {
  const vector = vectorById(FILE, 'V10.eip55');
  const cases = vector.expected?.['cases'] as Array<{
    address: string;
    valid_as_given: boolean;
    corrected?: string;
  }>;

  it('covers its inputs, valid and invalid', () => {
    assert.deepEqual(
      cases.map((c) => c.address),
      vector.input?.['addresses'],
    );
    assert.ok(cases.some((c) => c.valid_as_given));
    assert.ok(cases.some((c) => !c.valid_as_given));
  });

  for (const c of cases) {
    it(`${c.address}: ${c.valid_as_given ? 'valid' : `invalid, corrected to ${String(c.corrected)}`}`, () => {
      assert.equal(isValidEip55(c.address), c.valid_as_given);
      const corrected = c.corrected ?? c.address;
      assert.equal(eip55(c.address), corrected);
      assert.equal(eip55(c.address.toLowerCase()), corrected);
      assert.equal(eip55(c.address.slice(2)), corrected); // without 0x
      assert.equal(isValidEip55(corrected), true);
      // IDs keep the case they were given: only the EIP-55 form is the generated one
      assert.equal(parseId(c.address).string, c.address);
      assert.equal(parseId(c.address).address.kind, 'eth');
    });
  }

  it('malformed strings are never valid', () => {
    for (const bad of [
      '',
      '0x',
      '0x1234',
      'D4a16aa11Bd0D3315698792F5E1F66770F9Cd78F',
      '0xZ4a16aa11Bd0D3315698792F5E1F66770F9Cd78F',
    ]) {
      assert.equal(isValidEip55(bad), false, bad);
    }
  });
});

describe('addresses.json deployment configs', () => {
  it('V9.stations-json: every ID parses (stations as BTC-style STATIONs, the rest broadcast)', () => {
    const config = vectorById(FILE, 'V9.stations-json').input?.['config'] as Record<string, unknown>;
    for (const field of ['ID', 'founder', 'owner']) {
      const id = parseId(config[field]);
      assert.equal(id.isBroadcast, true, field);
    }
    const stations = config['stations'] as Array<{ id: string }>;
    assert.equal(stations.length, 4);
    for (const station of stations) {
      const id = parseId(station.id);
      assert.equal(id.address.kind, 'btc', station.id);
      assert.equal(id.type, EntityType.STATION, station.id);
      assert.equal(base58ChecksumValid(id.address.text), true);
    }
  });

  it('V8.gsp-config: every ID parses with its legacy network byte', () => {
    const config = vectorById(FILE, 'V8.gsp-config').input?.['config'] as Record<string, unknown>;
    const provider = parseId(config['ID']);
    assert.equal(provider.address.kind, 'btc');
    assert.equal(provider.address.network, 0x76);
    assert.equal(provider.type, EntityType.ISP);
    for (const field of ['founder', 'owner']) {
      const id = parseId(config[field]);
      assert.equal(id.address.kind, 'btc');
      assert.equal(id.address.network, 0x08);
      assert.equal(id.type, EntityType.USER);
    }
    const stations = config['stations'] as Array<{ ID: string }>;
    assert.equal(stations.length, 4);
    for (const station of stations) {
      const id = parseId(station.ID);
      assert.equal(id.address.kind, 'btc', station.ID);
      assert.equal(id.address.network, 0x88, station.ID);
      assert.equal(id.type, EntityType.STATION, station.ID);
      assert.equal(id.isBroadcast, false, station.ID);
    }
    const bots = [...(config['assistants'] as string[]), ...(config['archivists'] as string[])];
    assert.equal(bots.length, 2);
    for (const text of bots) {
      const id = parseId(text);
      assert.equal(id.address.kind, 'btc', text);
      assert.equal(id.address.text.length, 35, text);
      assert.equal(id.address.network, 0xc8, text);
      assert.equal(id.type, EntityType.BOT, text);
      assert.equal(id.isBroadcast, false, text);
    }
  });

  it('V9.ans-config: every record value parses to a BOT', () => {
    const records = vectorById(FILE, 'V9.ans-config').expected?.['records'] as Record<string, string>;
    for (const value of Object.values(records)) {
      const id = parseId(value);
      assert.equal(id.address.kind, 'btc');
      assert.equal(id.type, EntityType.BOT, value);
    }
  });
});

describe('ID parsing', () => {
  const MOKI = 'moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk';

  it('splits name, address and terminal', () => {
    const id = parseId(`${MOKI}/AquilaRift`);
    assert.equal(id.name, 'moki');
    assert.equal(id.address.text, '4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk');
    assert.equal(id.address.kind, 'btc');
    assert.equal(id.terminal, 'AquilaRift');
    assert.equal(id.string, `${MOKI}/AquilaRift`);
    assert.equal(id.toString(), `${MOKI}/AquilaRift`);
    assert.equal(JSON.stringify({ id }), JSON.stringify({ id: `${MOKI}/AquilaRift` }));
    const bare = parseId(MOKI);
    assert.equal(bare.terminal, undefined);
  });

  it('naked(), withTerminal(), isSameAs() and equals()', () => {
    const withTerminal = parseId(`${MOKI}/phone`);
    const naked = parseId(MOKI);
    assert.equal(withTerminal.naked(), naked);
    assert.equal(naked.naked(), naked);
    assert.equal(naked.withTerminal('phone'), withTerminal);
    assert.equal(withTerminal.withTerminal('desk').string, `${MOKI}/desk`);
    assert.equal(withTerminal.isSameAs(naked), true);
    assert.equal(naked.isSameAs(withTerminal), true);
    assert.equal(withTerminal.isSameAs(parseId(`${MOKI}/desk`)), true);
    assert.equal(withTerminal.equals(naked), false);
    assert.equal(withTerminal.equals(parseId(`${MOKI}/phone`)), true);
    assert.equal(naked.isSameAs(parseId('moky@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk')), false);
    assert.equal(naked.isSameAs(parseId('moki@4YeVEN3aUnvC1DNUufCq1bs9zoBSJTzVEj')), false);
    assert.equal(naked.isSameAs(parseId('4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk')), false);
  });

  it('a terminal on an ETH ID and on a broadcast ID', () => {
    const eth = parseId('0x952718A18C6b21abb593D84203282fe1c21773D6/AquilaRift');
    assert.equal(eth.name, undefined);
    assert.equal(eth.terminal, 'AquilaRift');
    assert.equal(eth.address.kind, 'eth');
    assert.equal(eth.naked().string, '0x952718A18C6b21abb593D84203282fe1c21773D6');
    const broadcast = parseId('station@anywhere/x');
    assert.equal(broadcast.isBroadcast, true);
    assert.equal(broadcast.naked(), ANY_STATION);
  });

  it('broadcast words are case-insensitive', () => {
    for (const text of [
      'anyone@ANYWHERE',
      'station@AnyWhere',
      'everyone@EVERYWHERE',
      'stations@EveryWhere',
    ]) {
      const id = parseId(text);
      assert.equal(id.address.kind, 'broadcast', text);
      assert.equal(id.isBroadcast, true, text);
      // canonical lowercase form, so that routing compares equal to the well-known IDs
      assert.equal(
        id.string,
        text.replace(/@.*$/, (m) => m.toLowerCase()),
        text,
      );
    }
    assert.equal(parseId('station@AnyWhere'), ANY_STATION);
    assert.equal(parseId('anyone@ANYWHERE').type, EntityType.ANY);
    assert.equal(parseId('everyone@EVERYWHERE').type, EntityType.EVERY);
    assert.equal(parseAddress('EveryWhere').network, 0x81);
    // near misses are not broadcast
    assert.equal(parseId('anyone@anywhere1').isBroadcast, false);
    assert.equal(parseId('anyone@anywhere1').address.kind, 'unknown');
  });

  it('interns parsed IDs', () => {
    const text = ['moki', '4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'].join('@');
    assert.equal(parseId(text), parseId(MOKI));
    assert.equal(parseId(MOKI), parseId(MOKI));
    assert.equal(parseId(`${MOKI}/t1`), parseId(`${MOKI}/t1`));
    assert.notEqual(parseId(`${MOKI}/t1`), parseId(MOKI));
  });

  it('rejects non-strings with BAD_ID', () => {
    for (const value of [undefined, null, 42, {}, ['moki'], { toString: () => MOKI }]) {
      throwsCode(() => parseId(value), 'BAD_ID');
    }
    assert.equal(tryParseId(42), undefined);
    assert.equal(tryParseId(MOKI), parseId(MOKI));
  });

  it('rejects an empty name, an empty terminal and bad names with BAD_ID', () => {
    throwsCode(() => parseId('@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'), 'BAD_ID');
    throwsCode(() => parseId(`${MOKI}/`), 'BAD_ID');
    throwsCode(() => parseId('mo ki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'), 'BAD_ID');
    throwsCode(() => parseId(' moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'), 'BAD_ID');
    throwsCode(() => parseId('mo@ki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'), 'BAD_ID');
    throwsCode(() => parseId(`${MOKI}/a b`), 'BAD_ID');
    throwsCode(() => parseId(`${MOKI}/a/b`), 'BAD_ID');
  });

  it('rejects invalid addresses with BAD_ID', () => {
    for (const text of [
      '',
      'moki@',
      'moki@abc',
      'moki@not valid',
      'moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXek!',
      `moki@${'a'.repeat(65)}`,
    ]) {
      throwsCode(() => parseId(text), 'BAD_ID');
    }
    throwsCode(() => parseAddress('abc'), 'BAD_ADDRESS');
  });

  it('rejects over-long strings with FIELD_TOO_LARGE', () => {
    throwsCode(() => parseId('a'.repeat(1000)), 'FIELD_TOO_LARGE');
    throwsCode(() => parseId(`${'a'.repeat(990)}@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk`), 'FIELD_TOO_LARGE');
    throwsCode(() => parseId(`${MOKI}/${'t'.repeat(MAX_ID_LENGTH)}`), 'FIELD_TOO_LARGE');
  });

  it('parses an unknown 4–64 char address as kind "unknown", network 0, USER', () => {
    for (const address of ['abcd', 'x'.repeat(64), 'did-key.z6Mk_hypothetical']) {
      const named = parseId(`someone@${address}`);
      assert.equal(named.address.kind, 'unknown', address);
      assert.equal(named.address.network, 0);
      assert.equal(named.type, EntityType.USER);
      assert.equal(named.isUser, true);
      assert.equal(named.isBroadcast, false);
      assert.equal(parseId(address).address.kind, 'unknown');
    }
  });

  it('a BTC-length address with a bad checksum is not kind "btc"', () => {
    const good = '4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk';
    const bad = `${good.slice(0, -1)}m`;
    // independently: still 25 bytes, but the checksum does not match
    assert.equal(bs58.decode(bad).length, 25);
    assert.equal(base58ChecksumValid(good), true);
    assert.equal(base58ChecksumValid(bad), false);
    assert.equal(parseAddress(good).kind, 'btc');
    const id = parseId(`moki@${bad}`);
    assert.notEqual(id.address.kind, 'btc');
    assert.equal(id.address.network, EntityType.USER);
    // a meta never matches such an address
    const v2 = vectorById('ids-and-metas.json', 'V2').input?.['meta'];
    const meta = parseMeta(v2);
    assert.equal(meta.matches(parseId(`moki@${good}`)), true);
    assert.equal(meta.matches(id), false);
  });
});
