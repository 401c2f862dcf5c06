/**
 * Local push providers for end-to-end tests: test credentials, a production and a sandbox APNs, FCM and
 * a webhook receiver, and the station environment (DIM_PUSH_*) pointing at them.
 */
import { FakeApns } from './fake-apns.ts';
import { FakeFcm } from './fake-fcm.ts';
import { FakeWebhook } from './fake-webhook.ts';
import { makePushCredentials } from './push-credentials.ts';
import type { PushCredentials } from './push-credentials.ts';

export const TEST_TOPIC = 'chat.dim.e2e';
export const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export interface PushProvidersHarness {
  readonly creds: PushCredentials;
  readonly apns: FakeApns;
  readonly apnsSandbox: FakeApns;
  readonly fcm: FakeFcm;
  readonly webhook: FakeWebhook;
  /** DIM_PUSH_* variables for a station using these providers. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export async function startPushProviders(
  options: { apnsLatencyMs?: number; record?: boolean } = {},
): Promise<PushProvidersHarness> {
  const creds = makePushCredentials();
  const keys = [{ keyId: creds.apns.keyId, teamId: creds.apns.teamId, publicKey: creds.apns.publicKey }];
  const apns = await new FakeApns({
    tls: creds.tls,
    keys,
    latencyMs: options.apnsLatencyMs ?? 0,
    recordRequests: options.record ?? true,
  }).listen();
  const apnsSandbox = await new FakeApns({ tls: creds.tls, keys }).listen();
  const fcm = await new FakeFcm(creds.tls, { projectId: 'dim-test', clientEmail: '' }).listen();
  const account = creds.serviceAccount(fcm.tokenUri);
  fcm.clientEmail = account.clientEmail;
  fcm.publicKey = account.publicKey;
  const webhook = await new FakeWebhook(WEBHOOK_SECRET).listen();
  const env: Record<string, string> = {
    DIM_PUSH_APNS_KEY_FILE: creds.apns.file,
    DIM_PUSH_APNS_KEY_ID: creds.apns.keyId,
    DIM_PUSH_APNS_TEAM_ID: creds.apns.teamId,
    DIM_PUSH_APNS_TOPIC: TEST_TOPIC,
    DIM_PUSH_APNS_URL: apns.url,
    DIM_PUSH_APNS_SANDBOX_URL: apnsSandbox.url,
    DIM_PUSH_FCM_SERVICE_ACCOUNT_FILE: account.file,
    DIM_PUSH_FCM_URL: fcm.url,
    DIM_PUSH_CA_FILE: creds.tls.caFile,
    DIM_PUSH_WEBHOOK_URL: webhook.url,
    DIM_PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
  };
  return {
    creds,
    apns,
    apnsSandbox,
    fcm,
    webhook,
    env,
    async close() {
      await Promise.all([apns.close(), apnsSandbox.close(), fcm.close(), webhook.close()]);
      creds.dispose();
    },
  };
}

export function randomApnsToken(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('hex');
}
