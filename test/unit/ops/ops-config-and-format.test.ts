/** Pure parts of the ops tooling: the ops config block, stream names, tables, status problems. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';
import { statusProblems } from '../../../src/ops/dimctl.ts';
import type { StationStatus } from '../../../src/ops/station-inspector.ts';
import {
  knownStreams,
  resolveStreamName,
  shortStreamName,
  streamKind,
} from '../../../src/ops/stream-names.ts';
import { formatDuration, renderTable } from '../../../src/ops/text-table.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';

describe('ops config', () => {
  it('defaults: loopback port 9395, no token, 30 s drain window, a later hard timeout', () => {
    const { ops } = loadConfig({}, '/srv');
    assert.deepEqual(ops, {
      host: '127.0.0.1',
      port: 9395,
      token: undefined,
      publicUrl: undefined,
      drainWindowMs: 30_000,
      drainTimeoutMs: 60_000,
    });
  });

  it('reads DIM_OPS_* and DIM_DRAIN_* and the file block; off disables the server', () => {
    const { ops } = loadConfig(
      {
        DIM_OPS_HOST: '0.0.0.0',
        DIM_OPS_PORT: '0',
        DIM_OPS_TOKEN: 'a-long-enough-token',
        DIM_DRAIN_WINDOW_MS: '5000',
      },
      '/srv',
    );
    assert.equal(ops.host, '0.0.0.0');
    assert.equal(ops.port, 0);
    assert.equal(ops.token, 'a-long-enough-token');
    assert.equal(ops.drainWindowMs, 5000);
    assert.equal(ops.drainTimeoutMs, 60_000);
    assert.equal(loadConfig({ DIM_OPS_PORT: 'off' }, '/srv').ops.port, undefined);
    assert.equal(loadConfig({ DIM_DRAIN_WINDOW_MS: '0' }, '/srv').ops.drainWindowMs, 0);
  });

  it('refuses a short token, a bad URL, and a timeout not beyond the window', () => {
    assert.throws(() => loadConfig({ DIM_OPS_TOKEN: 'short' }, '/srv'), ConfigError);
    assert.throws(() => loadConfig({ DIM_OPS_URL: 'ftp://x' }, '/srv'), /DIM_OPS_URL/);
    assert.throws(() => loadConfig({ DIM_OPS_PORT: '70000' }, '/srv'), /DIM_OPS_PORT/);
    assert.throws(
      () => loadConfig({ DIM_DRAIN_WINDOW_MS: '10000', DIM_DRAIN_TIMEOUT_MS: '5000' }, '/srv'),
      /DIM_DRAIN_TIMEOUT_MS/,
    );
  });
});

describe('stream names', () => {
  const keys = createRedisKeys('dim:');
  it('lists every stream from the keys module, never by scanning', () => {
    assert.deepEqual(knownStreams(keys, 2, ['gw-b', 'gw-a', 'gw-a']), [
      'dim:inbound:{0}',
      'dim:inbound:{1}',
      'dim:store:{0}',
      'dim:store:{1}',
      'dim:deliver:{gw-a}',
      'dim:deliver:{gw-b}',
    ]);
  });

  it('resolves short names and keeps full keys', () => {
    assert.equal(resolveStreamName(keys, 'inbound:3'), 'dim:inbound:{3}');
    assert.equal(resolveStreamName(keys, 'store:0:dead'), 'dim:store:{0}:dead');
    assert.equal(resolveStreamName(keys, 'deliver:gateway-1'), 'dim:deliver:{gateway-1}');
    assert.equal(resolveStreamName(keys, 'dim:inbound:{9}'), 'dim:inbound:{9}');
    assert.throws(() => resolveStreamName(keys, 'inbound:x'), /unknown stream/);
    assert.equal(shortStreamName(keys, 'dim:deliver:{gateway-1}'), 'deliver:gateway-1');
    assert.equal(streamKind(keys, 'dim:store:{1}'), 'store');
  });
});

describe('tables and durations', () => {
  it('pads columns and right-aligns numbers', () => {
    assert.equal(
      renderTable(
        ['name', 'n'],
        [
          ['a', 1],
          ['long', 100],
          ['x', undefined],
        ],
      ),
      'NAME    N\na       1\nlong  100\nx       -\n',
    );
    assert.equal(formatDuration(950), '950ms');
    assert.equal(formatDuration(12_300), '12.3s');
    assert.equal(formatDuration(undefined), '-');
  });
});

describe('status problems', () => {
  const base: StationStatus = {
    at: 1_000_000,
    engine: 'redis',
    shards: 1,
    gateways: [],
    instances: [],
    streams: [],
    deadLetters: 0,
    inboundAdded: 0,
  };
  const group = { name: 'dispatcher', consumers: 1, pending: 0, lag: 0, oldestPendingMs: undefined };
  it('names dead gateways, dead letters, old pending entries and unread streams', () => {
    const problems = statusProblems({
      ...base,
      gateways: [
        {
          id: 'g1',
          alive: false,
          heartbeatAgeMs: undefined,
          sessions: 0,
          connections: undefined,
          version: undefined,
          ops: undefined,
          ready: undefined,
          draining: undefined,
        },
      ],
      streams: [
        {
          name: 'dim:inbound:{0}',
          kind: 'inbound',
          length: 1,
          added: 1,
          groups: [{ ...group, pending: 1, oldestPendingMs: 120_000 }],
          deadLetters: 2,
        },
        { name: 'dim:store:{0}', kind: 'store', length: 0, added: 0, groups: [], deadLetters: 0 },
      ],
      push: { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 3, completed: 0, paused: 0 },
    });
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems.join('\n'), /g1: no heartbeat/);
    assert.match(problems.join('\n'), /2 dead letter/);
    assert.match(problems.join('\n'), /pending for 2m0s/);
    assert.match(problems.join('\n'), /storage worker running/);
    assert.match(problems.join('\n'), /3 failed job/);
  });

  it('is empty for a healthy station', () => {
    assert.deepEqual(
      statusProblems({
        ...base,
        gateways: [
          {
            id: 'g1',
            alive: true,
            heartbeatAgeMs: 100,
            sessions: 3,
            connections: 3,
            version: '1',
            ops: 'http://x',
            ready: true,
            draining: false,
          },
        ],
        streams: [
          { name: 'dim:inbound:{0}', kind: 'inbound', length: 0, added: 5, groups: [group], deadLetters: 0 },
        ],
      }),
      [],
    );
  });

  it('names federation links no bridge holds and links down for over a minute', () => {
    const link = {
      neighbour: 'gsp-s2@x',
      address: '10.0.0.2:9394',
      state: 'up',
      owner: 'bridge-1',
      owned: true,
      forMs: 5000,
      attempts: 0,
      lastError: undefined,
      sent: 10,
      received: 9,
      queued: 0,
    };
    assert.deepEqual(statusProblems({ ...base, gateways: [], links: [link] }).slice(1), []);
    const problems = statusProblems({
      ...base,
      links: [
        link,
        { ...link, neighbour: 'orphan@x', owned: false },
        { ...link, neighbour: 'flapping@x', state: 'backoff', forMs: 59_000 },
        { ...link, neighbour: 'down@x', state: 'backoff', forMs: 125_000, lastError: 'ECONNREFUSED' },
      ],
    }).slice(1); // the first problem: no gateway is registered
    assert.deepEqual(problems, [
      'neighbour orphan@x: no bridge holds the link',
      'neighbour down@x: backoff for 2m5s (ECONNREFUSED)',
    ]);
  });
});
