/**
 * Message pipeline benchmarks: `npm exec -- node bench/message.bench.ts [--json] [--quick] [--filter=TEXT]`.
 *
 * One op is one message; cases over a set of messages take them in turn. Inputs are the message frames of
 * the reference-station captures (vectors/traces/*.jsonl, client→station direction) and messages packed here
 * for freshly generated identities (a 100-byte text). Every case is checked first (signatures verify, opened
 * contents equal the input, relayed output equals what the reference station relayed, ...) and the run
 * aborts, timing nothing, when a check fails. Timing: bench/harness.ts.
 *
 * Sender keys for verification are precomputed from the metas/visas attached to the captures (as a station
 * does once per sender) and kept, so verification always uses warm KeyObjects.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { PrivateKey, PublicKey } from '../src/protocol/crypto/asymmetric-key.ts';
import { EccPrivateKey } from '../src/protocol/crypto/ecc.ts';
import { base64Decode, base64Encode, utf8Encode } from '../src/protocol/crypto/encoding.ts';
import { RsaPrivateKey } from '../src/protocol/crypto/rsa.ts';
import { signDocument } from '../src/protocol/mkm/document.ts';
import type { Document } from '../src/protocol/mkm/document.ts';
import { EntityType } from '../src/protocol/mkm/entity-type.ts';
import { parseId } from '../src/protocol/mkm/identifier.ts';
import type { ID } from '../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../src/protocol/mkm/meta.ts';
import type { Meta } from '../src/protocol/mkm/meta.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../src/protocol/dkd/attachments.ts';
import { ContentType } from '../src/protocol/dkd/content-type.ts';
import { compatContent } from '../src/protocol/dkd/content.ts';
import { openMessage, packMessage, verifyMessage } from '../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../src/protocol/dkd/reliable-message.ts';
import { buildReceipt } from '../src/protocol/dkd/receipt-command.ts';
import { benchMeta, CheckFailedError, parseBenchArgs, report, runCases } from './harness.ts';
import type { Case, TableColumns } from './harness.ts';

const options = parseBenchArgs();

// ---- trace messages -----------------------------------------------------------------------------------

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedVectors = resolve(repoDir, '..', 'shared', 'vectors');
const vectorsDir = existsSync(sharedVectors) ? sharedVectors : join(repoDir, 'test', 'fixtures', 'vectors');

interface Frame {
  conn: number;
  dir: 'c2s' | 's2c';
  type: number;
  body: string;
}
interface TraceMessage {
  /** `file:line`, for error messages. */
  where: string;
  file: string;
  frame: Frame;
  msg: ReliableMessage;
}

const traceFiles = readdirSync(join(vectorsDir, 'traces'))
  .filter((name) => name.endsWith('.jsonl'))
  .sort();
const traceMessages: TraceMessage[] = traceFiles.flatMap((file) =>
  readFileSync(join(vectorsDir, 'traces', file), 'utf8')
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim().length > 0)
    .map(({ line, index }) => ({ where: `${file}:${index + 1}`, file, frame: JSON.parse(line) as Frame }))
    .filter(({ frame }) => frame.type === 2)
    .map((m) => ({ ...m, msg: parseReliableMessage(m.frame.body) })),
);
const expectedFrames = (
  JSON.parse(readFileSync(join(vectorsDir, 'messages.json'), 'utf8')) as {
    trace_expectations: { message_frames: number };
  }
).trace_expectations.message_frames;
if (traceMessages.length !== expectedFrames) {
  throw new Error(`expected ${expectedFrames} message frames in the traces, found ${traceMessages.length}`);
}

/** Verification keys per `file|sender`, from the metas/visas attached in the client→station direction. */
interface SenderKeys {
  meta: Meta;
  visas: Document[];
  /** senderVerifyKeys(meta, visas): visa keys first, then the meta key (what the station tries). */
  candidates: PublicKey[];
}
const senderKeys = new Map<string, SenderKeys>();
for (const m of traceMessages) {
  if (m.frame.dir !== 'c2s') continue;
  const key = `${m.file}|${m.msg.sender.string}`;
  const meta = attachedMeta(m.msg);
  let entry = senderKeys.get(key);
  if (meta && !entry) {
    entry = { meta, visas: [], candidates: [] };
    senderKeys.set(key, entry);
  }
  if (m.msg.visa !== undefined) {
    if (!entry) throw new Error(`${m.where}: a visa before its sender's meta`);
    const visa = attachedVisa(m.msg, entry.meta);
    if (visa) entry.visas.push(visa);
  }
}
for (const entry of senderKeys.values()) entry.candidates = senderVerifyKeys(entry.meta, entry.visas);

interface Job {
  where: string;
  body: string;
  keys: SenderKeys;
}
const c2s: Job[] = traceMessages
  .filter((m) => m.frame.dir === 'c2s')
  .map((m) => {
    const keys = senderKeys.get(`${m.file}|${m.msg.sender.string}`);
    if (!keys) throw new Error(`${m.where}: no attached meta for ${m.msg.sender.string}`);
    return { where: m.where, body: m.frame.body, keys };
  });
const eccSigned = c2s.filter((j) => j.keys.meta.key.algorithm === 'ECC');
const rsaSigned = c2s.filter((j) => j.keys.meta.key.algorithm === 'RSA');
/** Client→station messages the station relays: addressed to another user (not a station, not broadcast). */
const userToUser = c2s.filter((j) => {
  const msg = parseReliableMessage(j.body);
  return !msg.isBroadcast && !msg.receiver.string.includes('station');
});
/** What the reference station relayed: its station→client frames with `traces`. */
const relayedByReference = traceMessages.filter((m) => m.msg.dict['traces'] !== undefined);

// ---- generated identities -----------------------------------------------------------------------------

const NOW = Math.floor(Date.now() / 1000);

interface User {
  id: ID;
  meta: Meta;
  metaKey: PrivateKey;
  visaKey: RsaPrivateKey;
  visa: Document;
  /** senderVerifyKeys(meta, [visa]). */
  verifyKeys: PublicKey[];
}

/** An MKM identity with `metaKey` and an RSA-1024 visa key. */
function makeUser(seed: string, metaKey: PrivateKey, network: number = EntityType.USER): User {
  const meta = createMeta(MetaType.MKM, metaKey, seed);
  const id = parseId(`${seed}@${meta.generateAddress(network).text}`);
  const visaKey = RsaPrivateKey.generate(1024);
  const visa = signDocument('visa', id, { name: seed, key: visaKey.publicKey.dict }, metaKey, NOW - 60);
  if (!meta.matches(id) || !visa.verify(meta.key)) throw new Error(`bad generated identity ${seed}`);
  return { id, meta, metaKey, visaKey, visa, verifyKeys: senderVerifyKeys(meta, [visa]) };
}

const alice = makeUser('alice', EccPrivateKey.generate());
const carol = makeUser('carol', RsaPrivateKey.generate(1024));
const bob = makeUser('bob', EccPrivateKey.generate());
const station = makeUser('station', EccPrivateKey.generate(), EntityType.STATION);

const TEXT_100 = 'The quick brown fox jumps over the lazy dog; '.repeat(3).slice(0, 100);
if (utf8Encode(TEXT_100).length !== 100) throw new Error('the text must be 100 bytes');
const textContent = { type: ContentType.TEXT, sn: 4242, time: NOW, text: TEXT_100 };
const expectedContent = compatContent(textContent);

/** packMessage from `from` (signed with its meta key) to bob's RSA-1024 visa key, serialized. */
function packToBob(from: User, content: Record<string, unknown> = textContent): string {
  return JSON.stringify(
    packMessage({
      sender: from.id,
      receiver: bob.id,
      content,
      time: NOW,
      signer: from.metaKey,
      receiverKeys: [{ key: bob.visaKey.publicKey }],
    }),
  );
}

/** Opens as bob and returns the content dict; throws when bob cannot. */
function openAsBob(msg: ReliableMessage): Readonly<Record<string, unknown>> {
  return openMessage(msg, { privateKeys: [bob.visaKey] }).content.dict;
}

/** The wire text verifies with `from`'s keys (not with another user's) and opens to the 100-byte text. */
function packedOk(text: string, from: User, other: User): boolean {
  const msg = parseReliableMessage(text);
  return (
    !text.includes('\n') &&
    msg.sender.equals(from.id) &&
    verifyMessage(msg, from.verifyKeys) &&
    !verifyMessage(msg, other.verifyKeys) &&
    isDeepStrictEqual(openAsBob(msg), expectedContent)
  );
}

/** RSA-signed messages (none of the captured senders has an RSA meta key): carol → bob, a few of them. */
const rsaOwn: string[] = Array.from({ length: 8 }, () => packToBob(carol));
const eccToBob = packToBob(alice);
const eccToBobParsed = parseReliableMessage(eccToBob);

// ---- helpers ------------------------------------------------------------------------------------------

function avgBytes(bodies: readonly string[]): number {
  const total = bodies.reduce((sum, b) => sum + utf8Encode(b).length, 0);
  return Math.round(total / Math.max(1, bodies.length));
}
function describe(jobs: readonly Job[], what: string): string {
  return `${what} (${jobs.length} msgs, avg ${avgBytes(jobs.map((j) => j.body)).toLocaleString('en-US')} B)`;
}

/** Round-robin over a set of inputs: each call returns the next one. */
function cycler<T>(items: readonly T[]): () => T {
  if (items.length === 0) throw new Error('empty input set');
  let i = 0;
  return () => {
    const item = items[i] as T;
    i = i + 1 === items.length ? 0 : i + 1;
    return item;
  };
}

/** A copy of the message with one signature byte flipped. */
function tampered(body: string): ReliableMessage {
  const msg = parseReliableMessage(body);
  const sig = base64Decode(msg.signatureText);
  const i = sig.length >> 1;
  sig[i] = (sig[i] ?? 0) ^ 0x01;
  return msg.withFields({ signature: base64Encode(sig) });
}

/** Keys of a sender in another connection/trace: must not verify. */
function otherKeys(job: Job): PublicKey[] {
  for (const keys of senderKeys.values()) if (keys !== job.keys) return keys.candidates;
  throw new Error('only one sender');
}

const STATION_ID = 'local_station@wtcohRS3M3WiL1ch7KtosKLs6nNwMW8ep';
function relay(body: string): string {
  const msg = parseReliableMessage(body);
  return JSON.stringify(
    msg.withFields({ traces: [{ ID: STATION_ID, did: STATION_ID, time: Date.now() / 1000 }] }),
  );
}
function relayVerified(job: Job): string {
  const msg = parseReliableMessage(job.body);
  if (!verifyMessage(msg, job.keys.candidates)) throw new Error(`${job.where}: signature does not verify`);
  return JSON.stringify(
    msg.withFields({ traces: [{ ID: STATION_ID, did: STATION_ID, time: Date.now() / 1000 }] }),
  );
}

/** Our relay output equals the input plus `traces`, and what the reference station relayed for it. */
function relayOk(relayFn: (job: Job) => string): boolean {
  let matched = 0;
  for (const job of userToUser) {
    const out = relayFn(job);
    if (out.includes('\n')) return false;
    const { traces, ...rest } = JSON.parse(out) as Record<string, unknown>;
    if (!Array.isArray(traces) || traces.length !== 1) return false;
    if (!isDeepStrictEqual(rest, JSON.parse(job.body))) return false;
    const reference = relayedByReference.filter((m) => {
      const { traces: _t, ...refRest } = m.msg.dict;
      return isDeepStrictEqual(refRest, rest);
    });
    if (reference.length === 1) matched++;
  }
  return matched === userToUser.length && matched === relayedByReference.length;
}

// ---- cases --------------------------------------------------------------------------------------------

const allBodies = c2s.map((j) => j.body);
const relayBodies = userToUser.map((j) => j.body);
const nextBody = cycler(allBodies);
const nextRelayBody = cycler(relayBodies);
const nextEcc = cycler(eccSigned);
const nextRsaOwn = cycler(rsaOwn);
const nextRelayJob = cycler(userToUser);
const carolKeys = carol.verifyKeys;

const cases: Case[] = [
  {
    group: '(a) JSON.parse (baseline)',
    impl: describe(c2s, 'trace c2s'),
    production: true,
    check: () =>
      c2s.every((j) => {
        const v = JSON.parse(j.body) as Record<string, unknown>;
        return typeof v['sender'] === 'string' && typeof v['data'] === 'string';
      }),
    run: () => JSON.parse(nextBody()),
  },
  {
    group: '(a) JSON.parse (baseline)',
    impl: describe(userToUser, 'trace c2s user→user'),
    production: true,
    check: () => userToUser.every((j) => typeof JSON.parse(j.body) === 'object'),
    run: () => JSON.parse(nextRelayBody()),
  },
  {
    group: '(b) parseReliableMessage',
    impl: describe(c2s, 'trace c2s'),
    production: true,
    check: () =>
      c2s.every((j) => {
        const msg = parseReliableMessage(j.body);
        const raw = JSON.parse(j.body) as Record<string, unknown>;
        return msg.sender.string === raw['sender'] && msg.data === raw['data'] && msg.signature.length > 0;
      }),
    run: () => parseReliableMessage(nextBody()),
  },
  {
    group: '(c) parse + verifyMessage, ECC-signed (visa key, then meta key)',
    impl: describe(eccSigned, 'trace c2s, MKM+ETH senders'),
    production: true,
    check: () =>
      eccSigned.length > 0 &&
      eccSigned.every(
        (j) =>
          j.keys.candidates.length === 2 &&
          verifyMessage(parseReliableMessage(j.body), j.keys.candidates) &&
          !verifyMessage(parseReliableMessage(j.body), otherKeys(j)) &&
          !verifyMessage(tampered(j.body), j.keys.candidates),
      ),
    run: () => {
      const j = nextEcc();
      return verifyMessage(parseReliableMessage(j.body), j.keys.candidates);
    },
  },
  {
    group: '(c) parse + verifyMessage, ECC-signed (meta key only)',
    impl: describe(eccSigned, 'trace c2s, MKM+ETH senders'),
    production: false,
    check: () =>
      eccSigned.every(
        (j) =>
          verifyMessage(parseReliableMessage(j.body), [j.keys.meta.key]) &&
          !verifyMessage(tampered(j.body), [j.keys.meta.key]),
      ),
    run: () => {
      const j = nextEcc();
      return verifyMessage(parseReliableMessage(j.body), [j.keys.meta.key]);
    },
  },
  {
    group: '(c) parse + verifyMessage, RSA-1024-signed (visa key, then meta key)',
    impl: `own carol→bob, 100-byte text (${rsaOwn.length} msgs, avg ${avgBytes(rsaOwn)} B; traces have ${rsaSigned.length} RSA-signed)`,
    production: true,
    check: () =>
      rsaOwn.every(
        (text) =>
          carolKeys.length === 2 &&
          carolKeys[1]?.algorithm === 'RSA' &&
          verifyMessage(parseReliableMessage(text), carolKeys) &&
          !verifyMessage(parseReliableMessage(text), alice.verifyKeys) &&
          !verifyMessage(tampered(text), carolKeys),
      ),
    run: () => verifyMessage(parseReliableMessage(nextRsaOwn()), carolKeys),
  },
  {
    group: '(d) packMessage + JSON.stringify, ECC signer → RSA-1024 visa',
    impl: 'own alice→bob, 100-byte text',
    production: true,
    check: () => packedOk(packToBob(alice), alice, carol),
    run: () => packToBob(alice),
  },
  {
    group: '(d) packMessage + JSON.stringify, RSA-1024 signer → RSA-1024 visa',
    impl: 'own carol→bob, 100-byte text',
    production: true,
    check: () => packedOk(packToBob(carol), carol, alice),
    run: () => packToBob(carol),
  },
  {
    group: '(e) openMessage (RSA-1024 decrypt + AES-256-CBC)',
    impl: `own alice→bob, 100-byte text (${avgBytes([eccToBob])} B)`,
    production: true,
    check: () => {
      const opened = openAsBob(eccToBobParsed.withFields({}));
      let wrongKeyRejected = false;
      try {
        openMessage(eccToBobParsed.withFields({}), { privateKeys: [alice.visaKey] });
      } catch {
        wrongKeyRejected = true;
      }
      return isDeepStrictEqual(opened, expectedContent) && opened['text'] === TEXT_100 && wrongKeyRejected;
    },
    // a fresh ReliableMessage each time, so that decoding `data` (cached per message) is counted
    run: () => openAsBob(eccToBobParsed.withFields({})),
  },
  {
    group: '(f) relay: parse + `traces` + JSON.stringify (no verify)',
    impl: describe(userToUser, 'trace c2s user→user'),
    production: true,
    check: () => relayOk((j) => relay(j.body)),
    run: () => relay(nextRelayBody()),
  },
  {
    group: '(f) relay: parse + verify + `traces` + JSON.stringify',
    impl: describe(userToUser, 'trace c2s user→user'),
    production: true,
    check: () => relayOk(relayVerified),
    run: () => relayVerified(nextRelayJob()),
  },
  {
    group: '(g) station receipt: buildReceipt + packMessage (ECC station key) + JSON.stringify',
    impl: 'receipt for alice→bob, to bob’s RSA-1024 visa',
    production: true,
    check: () => {
      const text = packToBob(station, buildReceipt('Message received', eccToBobParsed, NOW));
      const msg = parseReliableMessage(text);
      const content = openAsBob(msg);
      const origin = content['origin'] as Record<string, unknown>;
      return (
        verifyMessage(msg, station.verifyKeys) &&
        !verifyMessage(msg, alice.verifyKeys) &&
        content['command'] === 'receipt' &&
        origin['sender'] === alice.id.string &&
        origin['signature'] === eccToBobParsed.signatureText
      );
    },
    run: () => packToBob(station, buildReceipt('Message received', eccToBobParsed, NOW)),
  },
];

// ---- run ----------------------------------------------------------------------------------------------

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoDir,
      encoding: 'utf8',
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain'], { cwd: repoDir, encoding: 'utf8' }).trim().length > 0;
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

const columns: TableColumns = {
  operation: 'step',
  implementation: 'input',
  production: undefined,
  check: 'check',
  rate: 'median msgs/s',
  time: 'median µs/msg',
  range: 'µs/msg range',
};

try {
  const { results, elapsedS } = runCases(cases, options, { abortOnFailedCheck: true });
  const rev = commit();
  report(results, benchMeta(options, elapsedS), options, {
    columns,
    notes: [`Commit ${rev}; ${traceFiles.length} trace files, ${c2s.length} client→station messages.`],
    json: { commit: rev },
  });
} catch (err) {
  if (!(err instanceof CheckFailedError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
