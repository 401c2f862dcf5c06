/**
 * Gateway protocol flows end to end (issue 3), over MTP and over WebSocket, for every identity kind:
 * speed test, Start → DIM? → Restart → DIM!, login, report offline/online, a client-sent DIM?, a wrong
 * session key, and messages held before the handshake.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient, HandshakeEvent } from '../../src/client/dim-client.ts';
import type { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { USER_IDENTITY_KINDS } from '../../src/client/user-identity.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import { newCommand } from '../../src/protocol/dkd/content.ts';
import {
  AGAIN,
  HELLO,
  SPEED_TEST,
  SPEED_TEST_REPLY,
  SUCCESS,
} from '../../src/protocol/dkd/handshake-command.ts';
import { ANY_STATION, EVERY_STATION } from '../../src/protocol/mkm/identifier.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { Framing, TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  delay,
  handshakeEvents,
  KeyDirectory,
  newUser,
  now,
  sessionsOf,
  untilAsync,
  waitReceiptAbout,
} from '../helpers/gateway-e2e.ts';

const HEX64 = /^[0-9a-f]{64}$/;
const FRAMINGS: readonly Framing[] = ['mtp', 'ws'];

describe('gateway protocol flows', () => {
  const backend = createMemoryBackend();
  const directory = new KeyDirectory();
  const clients: DimClient[] = [];
  let station: TestStation;
  let peer: DimClient;

  before(async () => {
    station = await startTestStation({ backend });
    const peerUser = newUser('mkm-ecc', 'peer');
    peer = await connectClient(station.port, 'mtp', peerUser, directory);
    clients.push(peer);
    await peer.handshake();
    assert.equal(await peer.login(), 'Login received.');
  });

  after(async () => {
    await closeQuietly(clients);
    await station.close();
  });

  for (const framing of FRAMINGS) {
    for (const kind of USER_IDENTITY_KINDS) {
      it(`${framing} / ${kind}: speed test, Start → DIM? (station meta+visa, remote_address, 64-hex session) → Restart → DIM!, login, report offline (silent, messages cached) then online (backlog), client-sent DIM? refused, wrong session → DIM?`, async () => {
        const user = newUser(kind, `u${kind.replace('-', '')}`);
        const client = await connectClient(station.port, framing, user, directory);
        clients.push(client);

        // Speed test (the Flutter station picker), before any handshake, as VelocityMeter sends it.
        await client.sendContent(
          ANY_STATION,
          newCommand('handshake', now(), {
            title: SPEED_TEST,
            message: SPEED_TEST,
            group: EVERY_STATION.string,
          }),
          { attachIdentity: true },
        );
        const speed = (await client.waitFor(
          (e) => e.kind === 'handshake' && e.title === SPEED_TEST_REPLY,
          2000,
          { since: 0 },
        )) as HandshakeEvent;
        assert.equal(speed.sender.string, station.identity.id.string);
        assert.equal(speed.remoteAddress?.[0], '127.0.0.1');
        assert.equal(speed.session, undefined, 'a speed test opens no session');
        assert.equal((await sessionsOf(backend, user)).length, 0, 'the speed test binds nothing');

        // Start → DIM? → Restart → DIM!
        const result = await client.handshake();
        const [again, ...moreAgain] = handshakeEvents(client, AGAIN);
        assert.ok(again !== undefined && moreAgain.length === 0, 'exactly one DIM?');
        assert.match(again.session ?? '', HEX64);
        assert.equal(again.force, false);
        assert.equal(again.sender.string, station.identity.id.string);
        assert.ok(
          again.raw.dict['meta'] !== undefined,
          'station meta attached to DIM? (Start went to station@anywhere)',
        );
        assert.ok(again.raw.dict['visa'] !== undefined, 'station visa attached to DIM?');
        assert.equal(again.remoteAddress?.[0], '127.0.0.1');
        const remotePort = again.remoteAddress?.[1];
        assert.ok(typeof remotePort === 'number' && remotePort > 0 && remotePort !== station.port);
        if (framing === 'mtp') {
          assert.equal(remotePort, (client.transport as MtpClientTransport).localPort);
        }
        const [success, ...moreSuccess] = handshakeEvents(client, SUCCESS);
        assert.ok(success !== undefined && moreSuccess.length === 0, 'exactly one DIM!');
        assert.equal(success.session, again.session);
        assert.equal(result.sessionKey, again.session);
        assert.equal(result.stationId.string, station.identity.id.string);
        assert.deepEqual(result.remoteAddress, again.remoteAddress);
        const [bound] = await sessionsOf(backend, user);
        assert.equal(bound?.active, true);

        assert.equal(await client.login(), 'Login received.');

        // report offline: no reply, the session stops receiving (messages are cached)
        assert.equal(await client.report('offline', { receiptTimeoutMs: 300 }), undefined);
        await untilAsync(
          async () => (await sessionsOf(backend, user))[0]?.active === false,
          1000,
          'the session to turn inactive',
        );
        const whileOffline = await peer.sendText(user.id, `while ${kind} is offline`);
        assert.equal((await peer.waitReceipt(whileOffline))?.text, 'Message cached.');
        await delay(50);
        assert.ok(
          !client.history.some(
            (e) => e.kind === 'message' && e.content.dict['text'] === `while ${kind} is offline`,
          ),
          'not pushed to an offline session',
        );

        // report online: receipt, and the cached message arrives
        const mark = client.mark();
        assert.equal(await client.report('online'), 'Online received.');
        const backlog = await client.waitForMessage((m) => m.sender.isSameAs(peer.id), 2000, { since: mark });
        assert.equal(backlog.content.dict['text'], `while ${kind} is offline`);

        // a client sending DIM? (a server title) gets "Command not support."
        const wrongTitle = await client.sendCommand('handshake', { title: AGAIN, message: AGAIN });
        const notSupported = await client.waitReceipt(wrongTitle);
        assert.equal(notSupported?.text, 'Command not support.');

        // a wrong session key gets DIM? again (with the connection's key), never DIM!
        const before = client.mark();
        await client.sendCommand('handshake', { title: HELLO, message: HELLO, session: 'f'.repeat(64) });
        const retry = (await client.waitFor((e) => e.kind === 'handshake' && e.title === AGAIN, 2000, {
          since: before,
        })) as HandshakeEvent;
        assert.equal(retry.session, result.sessionKey);
        assert.equal(retry.force, false);
        await delay(50);
        assert.equal(handshakeEvents(client, SUCCESS).length, 1, 'no second DIM!');
        assert.equal((await sessionsOf(backend, user)).length, 1, 'still one session');
      });
    }
  }

  for (const framing of FRAMINGS) {
    it(`${framing}: a message sent before the handshake is held (no OK) with DIM? force:true, then processed and acknowledged after the handshake`, async () => {
      const user = newUser('mkm-ecc', `held${framing}`);
      // The station knows the user from an earlier connection (a reconnecting client).
      const earlier = await connectClient(station.port, framing, user, directory);
      await earlier.handshake();
      await earlier.close();
      await untilAsync(async () => (await sessionsOf(backend, user)).length === 0, 1000, 'unbind');

      const client = await connectClient(station.port, framing, user, directory, { autoRehandshake: false });
      clients.push(client);
      const packed = client.pack(peer.id, { type: ContentType.TEXT, text: `held over ${framing}` });
      const peerMark = peer.mark();
      let acked = false;
      const sending =
        framing === 'mtp'
          ? (client.transport as MtpClientTransport).send(packed.text, { timeoutMs: 3000 })
          : client.transport.send(packed.text);
      void sending.then(() => {
        acked = true;
      });

      const forced = (await client.waitFor((e) => e.kind === 'handshake' && e.title === AGAIN, 2000, {
        since: 0,
      })) as HandshakeEvent;
      assert.equal(forced.force, true, 'DIM? with force:true');
      assert.match(forced.session ?? '', HEX64);
      await delay(150);
      if (framing === 'mtp') {
        assert.equal(acked, false, 'no OK while held');
        assert.equal((client.transport as MtpClientTransport).pendingAcks, 1);
      }
      assert.ok(
        !peer.history.some((e) => e.seq >= peerMark && e.kind === 'message' && e.sender.isSameAs(user.id)),
        'not delivered before the handshake',
      );

      await client.handshake();
      await sending; // MTP: the OK came once the held message was accepted
      const got = await peer.waitForMessage((m) => m.sender.isSameAs(user.id), 2000, { since: peerMark });
      assert.equal(got.content.dict['text'], `held over ${framing}`);
      const receipt = await waitReceiptAbout(client, packed.message.signatureText);
      assert.equal(receipt.text, 'Message delivered.');
    });
  }
});
