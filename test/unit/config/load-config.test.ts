import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';
import { DEFAULT_LIMITS } from '../../../src/config/station-config.ts';

describe('loadConfig', () => {
  it('has safe defaults: port 9394, embedded engine, data/station.json', () => {
    const config = loadConfig({}, '/srv/dim');
    assert.equal(config.port, 9394);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.keyFile, '/srv/dim/data/station.json');
    assert.equal(config.proxyProtocol, 'off');
    assert.equal(config.verifyAllMessages, false);
    assert.deepEqual(config.limits, DEFAULT_LIMITS);
  });

  it('reads environment variables over the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dim-config-'));
    const file = join(dir, 'station.json');
    writeFileSync(
      file,
      JSON.stringify({
        port: 9000,
        redisUrl: 'redis://file:6379',
        limits: { maxFrameBytes: 2048 },
        trustedStations: ['a@b'],
      }),
    );
    const config = loadConfig(
      {
        DIM_CONFIG_FILE: file,
        DIM_PORT: '9500',
        DIM_RATE_BURST: '7',
        DIM_VERIFY_ALL_MESSAGES: 'true',
        DIM_PROXY_PROTOCOL: 'required',
      },
      dir,
    );
    assert.equal(config.port, 9500);
    assert.equal(config.redisUrl, 'redis://file:6379');
    assert.equal(config.limits.maxFrameBytes, 2048);
    assert.equal(config.limits.messageBurst, 7);
    assert.equal(config.verifyAllMessages, true);
    assert.equal(config.proxyProtocol, 'required');
    assert.deepEqual(config.trustedStations, ['a@b']);
  });

  it('refuses bad values with an error naming the variable', () => {
    const bad: Record<string, string>[] = [
      { DIM_PORT: '70000' },
      { DIM_PORT: 'abc' },
      { DIM_MAX_FRAME_BYTES: '-1' },
      { DIM_PROXY_PROTOCOL: 'maybe' },
      { DIM_VERIFY_ALL_MESSAGES: 'perhaps' },
      { DIM_REDIS_URL: 'http://x' },
      { DIM_LOG_LEVEL: 'loud' },
      { DIM_BUS_CLAIM_IDLE_MS: '0' },
      { DIM_CONFIG_FILE: '/nonexistent/file.json' },
    ];
    for (const env of bad) {
      const name = Object.keys(env)[0] as string;
      assert.throws(
        () => loadConfig(env, '/'),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.includes(name.startsWith('DIM_CONFIG') ? 'config file' : name),
        name,
      );
    }
  });
});

describe('loadConfig: shards, ANS and instance name', () => {
  it('parses DIM_ANS pairs and DIM_SHARDS', () => {
    const config = loadConfig(
      {
        DIM_ANS: 'archivist=archivist@2PaF5csHmt8n1e2wdDimHHyj1HrdW3QZur9, monitor=monitor@x',
        DIM_SHARDS: '8',
        DIM_INSTANCE_NAME: 'gw-1',
        DIM_BUS_CLAIM_IDLE_MS: '1500',
      },
      '/',
    );
    assert.deepEqual(config.ans, {
      archivist: 'archivist@2PaF5csHmt8n1e2wdDimHHyj1HrdW3QZur9',
      monitor: 'monitor@x',
    });
    assert.equal(config.shards, 8);
    assert.equal(config.instanceName, 'gw-1');
    assert.equal(config.busClaimIdleMs, 1500);
    assert.equal(loadConfig({}, '/').busClaimIdleMs, undefined);
    assert.throws(
      () => loadConfig({ DIM_ANS: 'archivist' }, '/'),
      (e: unknown) => e instanceof ConfigError && e.message.includes('DIM_ANS'),
    );
    assert.throws(
      () => loadConfig({ DIM_SHARDS: '0' }, '/'),
      (e: unknown) => e instanceof ConfigError && e.message.includes('DIM_SHARDS'),
    );
  });
});

describe('loadConfig: empty variables and port 0', () => {
  it('treats empty variables as unset and accepts DIM_PORT=0 (any free port)', () => {
    const config = loadConfig({ DIM_REDIS_URL: '', DIM_PORT: '0', DIM_MAX_FRAME_BYTES: '' }, '/');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.port, 0);
    assert.equal(config.limits.maxFrameBytes, DEFAULT_LIMITS.maxFrameBytes);
    assert.throws(
      () => loadConfig({ DIM_PUBLIC_PORT: '0' }, '/'),
      (e: unknown) => e instanceof ConfigError,
    );
  });
});
