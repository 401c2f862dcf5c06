/**
 * The deployment files (issue 13): the compose file validates and has health checks, healthy-dependency
 * ordering, restart policies, file-descriptor limits and the Redis password option; the image creates
 * /data owned by the user it runs as; the build context leaves out node_modules and keys; the HAProxy
 * TLS-termination example passes `haproxy -c` with a real certificate; the licence is the one package.json
 * names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoDir } from '../helpers/vectors.ts';
import { createTestCa } from '../helpers/test-ca.ts';

const read = (name: string): string => readFileSync(join(repoDir, name), 'utf8');

function composeConfig(env: Record<string, string> = {}): string {
  return execFileSync('docker-compose', ['config'], {
    cwd: repoDir,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
  });
}

describe('deployment files', () => {
  it('docker-compose config passes; every service restarts, stations wait for a healthy Redis, HAProxy for healthy gateways', () => {
    const config = composeConfig();
    const services = config.slice(config.indexOf('services:'), config.indexOf('\nvolumes:'));
    const blocks = services.split(/\n {2}(?=[a-z0-9-]+:\n)/).slice(1);
    const byName = new Map(blocks.map((b) => [b.slice(0, b.indexOf(':')), b]));
    for (const name of ['dispatcher', 'gateway-1', 'gateway-2', 'haproxy', 'redis', 'storage'])
      assert.ok(byName.has(name), name);
    const stations = [...byName.keys()].filter((name) => name !== 'redis' && name !== 'haproxy');
    for (const [name, block] of byName) {
      assert.match(block, /restart: unless-stopped/, `${name} restart policy`);
      assert.match(block, /nofile:/, `${name} ulimits`);
      if (name !== 'haproxy') assert.match(block, /healthcheck:/, `${name} health check`);
    }
    for (const name of stations) {
      assert.match(
        byName.get(name) as string,
        /redis:\n\s+condition: service_healthy/,
        `${name} waits for redis`,
      );
    }
    assert.match(byName.get('haproxy') as string, /gateway-1:\n\s+condition: service_healthy/);
    for (const name of stations)
      assert.match(
        byName.get(name) as string,
        /127\.0\.0\.1:9395\/readyz/,
        `${name} is healthy when its ops server says ready (issue 11)`,
      );
  });

  it('REDIS_PASSWORD makes Redis require it and the stations use it', () => {
    const config = composeConfig({ REDIS_PASSWORD: 'pw-for-test' });
    assert.match(config, /DIM_REDIS_URL: redis:\/\/:pw-for-test@redis:6379/);
    assert.match(config, /REDIS_PASSWORD: pw-for-test/);
    assert.match(config, /--requirepass/);
  });

  it('the image creates /data owned by the non-root user it runs as, before switching to it', () => {
    const dockerfile = read('Dockerfile');
    const chown = dockerfile.search(/RUN mkdir -p \/data && chown node:node \/data/);
    const user = dockerfile.search(/^USER node$/m);
    assert.ok(chown > 0 && user > chown, 'mkdir+chown /data, then USER node');
    assert.match(dockerfile, /DIM_DATA_DIR=\/data/);
  });

  it('the build context leaves out node_modules, local data and keys', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', 'data', '*.pem', '*.key', '.git'])
      assert.ok(ignored.includes(entry), entry);
  });

  it('the HAProxy TLS-termination example passes haproxy -c with a real certificate', () => {
    const ca = createTestCa();
    const { certFile, keyFile } = ca.issue('haproxy');
    const pem = join(ca.dir, 'dim.pem');
    writeFileSync(pem, Buffer.concat([readFileSync(certFile), readFileSync(keyFile)]));
    const cfg = read('deploy/haproxy-tls.cfg')
      .replaceAll('/etc/haproxy/certs/dim.pem', pem)
      .replace(/gateway-(\d):9394/g, '127.0.0.1:940$1');
    const file = join(ca.dir, 'haproxy-tls.cfg');
    writeFileSync(file, cfg);
    const out = execFileSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    assert.match(out, /Configuration file is valid/);
  });

  it('LICENSE is the MIT licence package.json names', () => {
    assert.equal((JSON.parse(read('package.json')) as { license: string }).license, 'MIT');
    assert.match(read('LICENSE'), /^MIT License/);
  });
});
