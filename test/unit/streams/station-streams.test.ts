/**
 * The stream contracts: every entry kind survives its emitter and decoder field for field, on the stream
 * the contract names, with the message text untouched; malformed entries are refused with a clear error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_FIELDS } from '../../../src/bus/message-bus.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import { packMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { createRedisKeys, shardOf } from '../../../src/redis/redis-keys.ts';
import {
  decodeDelivery,
  decodeEnvelope,
  decodeInbound,
  decodeStore,
  envelopeText,
  messageText,
  StationStreams,
  StreamEntryError,
} from '../../../src/streams/station-streams.ts';
import type { Outgoing } from '../../../src/streams/station-streams.ts';

const NOW = 1_800_000_000;
const keys = createRedisKeys('t:');
const streams = new StationStreams(keys, 4);
const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW });
const bob = createUserIdentity({ kind: 'eth', name: 'bob', now: NOW });
/** A message pretty-printed by its sender: whitespace the station must keep as it is. */
const wire = JSON.stringify(
  packMessage({
    sender: alice.id,
    receiver: bob.id,
    content: { type: 1, sn: 7, text: 'hé 😀' },
    time: NOW,
    signer: alice.signKey,
    receiverKeys: [{ key: bob.decryptKeys[0]!.publicKey }],
  }).dict,
  null,
  1,
);

function noReserved(out: Outgoing): void {
  for (const name of Object.keys(out.fields)) assert.ok(!RESERVED_FIELDS.has(name), name);
}

describe('station streams', () => {
  it('inbound: the wire text as is, the envelope without the payload, the origin', () => {
    const message = parseReliableMessage(wire);
    assert.equal(messageText(message), wire, 'the text the sender wrote');
    const out = streams.inbound(bob.id.string, {
      msg: messageText(message),
      envelope: envelopeText(message),
      content: undefined,
      origin: { gatewayId: 'gw-1', connId: 'c1', user: alice.id.string, terminal: 'phone' },
    });
    noReserved(out);
    assert.equal(out.stream, keys.inboundStream(shardOf(bob.id.string, 4)));
    assert.equal(out.orderKey, bob.id.string);
    const back = decodeInbound(out.fields);
    assert.equal(back.msg, wire);
    assert.deepEqual(back.origin, {
      gatewayId: 'gw-1',
      connId: 'c1',
      user: alice.id.string,
      terminal: 'phone',
    });
    const envelope = decodeEnvelope(back.envelope);
    assert.ok(envelope.sender.equals(alice.id));
    assert.ok(envelope.receiver.equals(bob.id));
    assert.equal(envelope.signatureText, message.signatureText);
    assert.equal(envelope.time, NOW);
    assert.equal(envelope.dict['data'], undefined);
    assert.equal(envelope.dict['keys'] ?? envelope.dict['key'], undefined);
  });

  it('a message whose short keys were expanded travels as its expanded dictionary', () => {
    const short = JSON.parse(wire) as Record<string, unknown>;
    short['F'] = short['sender'];
    delete short['sender'];
    const message = parseReliableMessage(JSON.stringify(short));
    assert.equal(message.source, undefined);
    assert.equal(JSON.parse(messageText(message))['sender'], alice.id.string);
  });

  it('deliveries and pages round-trip to the gateway named', () => {
    const one = streams.deliver('gw-2', {
      connId: 'c2',
      user: bob.id.string,
      terminal: '*',
      sig: 'c2ln',
      msg: wire,
      response: false,
    });
    noReserved(one);
    assert.equal(one.stream, keys.deliveryStream('gw-2'));
    assert.deepEqual(decodeDelivery(one.fields), {
      kind: 'deliver',
      connId: 'c2',
      user: bob.id.string,
      terminal: '*',
      sig: 'c2ln',
      msg: wire,
      response: false,
    });
    const page = {
      connId: 'c2',
      user: bob.id.string,
      terminal: 'phone',
      until: 123,
      next: '000:111:c2ln',
      prefetchAt: 2,
      messages: [
        { sig: 'a', msg: wire },
        { sig: 'b b', msg: '{"x": 1}' },
      ],
    };
    const out = streams.deliverPage('gw-2', page);
    noReserved(out);
    assert.deepEqual(decodeDelivery(out.fields), { kind: 'deliver-page', ...page });
    const last = streams.deliverPage('gw-2', { ...page, next: undefined, prefetchAt: undefined });
    assert.deepEqual(decodeDelivery(last.fields), {
      kind: 'deliver-page',
      ...page,
      next: undefined,
      prefetchAt: undefined,
    });
  });

  it('store, delivered and drain entries go to the user’s store shard, in order per user', () => {
    const user = bob.id.string;
    const shard = keys.storeStream(shardOf(user, 4));
    const entries = [
      { kind: 'store' as const, user, terminal: undefined, sig: 's', time: NOW * 1000, msg: wire },
      { kind: 'store' as const, user, terminal: 'phone', sig: 's2', time: 1, msg: '{}' },
      { kind: 'delivered' as const, user, terminal: 'phone', sigs: ['a', 'b c', 'd'] },
      {
        kind: 'drain' as const,
        user,
        terminal: '*',
        gatewayId: 'gw',
        connId: 'c',
        until: 5,
        cursor: undefined,
      },
      { kind: 'drain' as const, user, terminal: '*', gatewayId: 'gw', connId: 'c', until: 5, cursor: 'x' },
    ];
    for (const entry of entries) {
      const { kind, ...rest } = entry;
      const out =
        kind === 'store'
          ? streams.store(rest as never)
          : kind === 'delivered'
            ? streams.delivered(rest as never)
            : streams.drain(rest as never);
      noReserved(out);
      assert.equal(out.stream, shard);
      assert.equal(out.orderKey, user);
      assert.deepEqual(decodeStore(out.fields), entry);
    }
  });

  it('refuses entries of another kind or with missing fields', () => {
    assert.throws(() => decodeInbound({ t: 'deliver' }), StreamEntryError);
    assert.throws(() => decodeInbound({ t: 'msg', msg: '{}' }), StreamEntryError);
    assert.throws(() => decodeDelivery({ p: '{"kind":"deliver"}' }), StreamEntryError);
    assert.throws(
      () => decodeStore({ t: 'store', user: 'u', sig: 's', time: 'soon', msg: '{}' }),
      StreamEntryError,
    );
    assert.throws(() => decodeEnvelope('[]'), StreamEntryError);
    assert.throws(() => decodeEnvelope('{"sender":"not an id"}'), StreamEntryError);
  });
});
