/**
 * Test credentials for the push providers, made at test time: a test CA and a certificate for
 * localhost / 127.0.0.1 signed by it (test-ca.ts, `openssl` CLI), an APNs `.p8` EC P-256 key, and an
 * FCM service account (RSA key). Files go to a fresh temporary directory; `dispose()` removes it.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa } from './test-ca.ts';

export interface TestTls {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
}

export interface ApnsKey {
  readonly file: string;
  readonly keyId: string;
  readonly teamId: string;
  readonly publicKey: KeyObject;
}

export interface ServiceAccountFixture {
  readonly file: string;
  readonly projectId: string;
  readonly clientEmail: string;
  readonly publicKey: KeyObject;
}

export interface PushCredentials {
  readonly dir: string;
  readonly tls: TestTls;
  readonly apns: ApnsKey;
  serviceAccount(tokenUri: string): ServiceAccountFixture;
  dispose(): void;
}

/** The test CA (test-ca.ts) made in `dir`, and a server certificate for localhost / 127.0.0.1 signed by it. */
export function makeTestTls(dir: string): TestTls {
  const ca = createTestCa(dir);
  const server = ca.issue('server');
  return {
    dir,
    caFile: ca.caFile,
    ca: ca.caPem.toString('utf8'),
    key: readFileSync(server.keyFile, 'utf8'),
    cert: readFileSync(server.certFile, 'utf8'),
  };
}

export function makePushCredentials(): PushCredentials {
  const dir = mkdtempSync(join(tmpdir(), 'dim-push-'));
  const tls = makeTestTls(dir);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const apnsFile = join(dir, 'AuthKey_ABC123DEFG.p8');
  writeFileSync(apnsFile, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let accounts = 0;
  return {
    dir,
    tls,
    apns: { file: apnsFile, keyId: 'ABC123DEFG', teamId: 'TEAM123456', publicKey: ec.publicKey },
    serviceAccount(tokenUri: string): ServiceAccountFixture {
      const projectId = 'dim-test';
      const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
      const file = join(dir, `service-account-${++accounts}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          type: 'service_account',
          project_id: projectId,
          private_key_id: 'k1',
          private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }),
          client_email: clientEmail,
          token_uri: tokenUri,
        }),
        { mode: 0o600 },
      );
      return { file, projectId, clientEmail, publicKey: rsa.publicKey };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
