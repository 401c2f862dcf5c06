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

describe('loadConfig schema (issue 13)', () => {
  it('refuses an unknown DIM_* variable, naming the closest known one', () => {
    assert.throws(
      () => loadConfig({ DIM_MAX_FRAME_BYTE: '7' }, '/srv/dim'),
      (err: unknown) =>
        err instanceof ConfigError &&
        /DIM_MAX_FRAME_BYTE .*did you mean DIM_MAX_FRAME_BYTES\?/.test(err.message),
    );
    assert.throws(
      () => loadConfig({ DIM_REDIS_ULR: 'redis://x:1' }, '/srv/dim'),
      /did you mean DIM_REDIS_URL\?/,
    );
    // other variables of the environment are none of the station's business
    assert.equal(
      loadConfig({ PATH: '/bin', HOME: '/root', DIM_CLUSTER_PORT: '9394' }, '/srv/dim').port,
      9394,
    );
  });

  it('refuses unknown config-file keys (top level and limits), naming the closest known one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dim-config-'));
    const write = (value: unknown): string => {
      const file = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(value));
      return file;
    };
    assert.throws(
      () => loadConfig({ DIM_CONFIG_FILE: write({ prot: 9000 }) }, dir),
      /unknown config file key prot \(did you mean port\?\)/,
    );
    assert.throws(
      () => loadConfig({ DIM_CONFIG_FILE: write({ limits: { maxFrameByte: 7 } }) }, dir),
      /maxFrameByte \(did you mean maxFrameBytes\?\)/,
    );
    // a key also set by its variable is still a known key
    const file = write({ port: 9000, limits: { idleTimeoutMs: 5000 } });
    const config = loadConfig({ DIM_CONFIG_FILE: file, DIM_PORT: '9001', DIM_IDLE_TIMEOUT_MS: '6000' }, dir);
    assert.equal(config.port, 9001);
    assert.equal(config.limits.idleTimeoutMs, 6000);
  });

  it('reads the hardening settings: trusted proxies (addresses, CIDR), TLS files in pairs', () => {
    const config = loadConfig(
      {
        DIM_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1',
        DIM_TLS_CERT_FILE: 'c.pem',
        DIM_TLS_KEY_FILE: 'k.pem',
      },
      '/srv/dim',
    );
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '127.0.0.1', '::1']);
    assert.equal(config.tlsCertFile, '/srv/dim/c.pem');
    assert.throws(() => loadConfig({ DIM_TRUSTED_PROXIES: '999.1.1.1' }, '/'), ConfigError);
    assert.throws(() => loadConfig({ DIM_TRUSTED_PROXIES: '10.0.0.0/33' }, '/'), ConfigError);
    assert.throws(() => loadConfig({ DIM_TLS_CERT_FILE: 'c.pem' }, '/'), /together/);
  });
});
