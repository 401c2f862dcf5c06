/**
 * The local APNs server of the push benchmark, in its own process (so the push worker being measured does
 * not share its event loop). Reads `{tls, keys, tokens}` as JSON on the IPC channel, then reports
 * `{port}` and, on request (`count`), `{delivered, connections, violations, maxInflight}`.
 */
import { createPublicKey } from 'node:crypto';
import { FakeApns } from '../test/helpers/fake-apns.ts';
import type { TestTls } from '../test/helpers/push-credentials.ts';

interface Setup {
  readonly tls: TestTls;
  readonly keys: { keyId: string; teamId: string; publicKey: string }[];
  readonly topic: string;
  readonly tokens: string[];
}

let server: FakeApns | undefined;
process.on('message', (raw: unknown) => {
  const msg = raw as { type: string; setup?: Setup };
  if (msg.type === 'setup' && msg.setup) {
    const setup = msg.setup;
    server = new FakeApns({
      tls: setup.tls,
      keys: setup.keys.map((k) => ({ ...k, publicKey: createPublicKey(k.publicKey) })),
      recordRequests: false,
    });
    for (const token of setup.tokens) server.register(token, setup.topic);
    void server.listen().then((s) => process.send?.({ type: 'ready', port: s.port }));
  } else if (msg.type === 'count' && server) {
    process.send?.({
      type: 'count',
      delivered: server.delivered200,
      connections: server.connections,
      violations: server.streamLimitViolations,
      maxInflight: server.maxObservedInflight,
    });
  } else if (msg.type === 'stop') {
    void server?.close().then(() => process.exit(0));
  }
});
