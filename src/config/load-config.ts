/**
 * The one place that reads the environment. Settings come from, in increasing precedence: defaults, a
 * JSON config file (`DIM_CONFIG_FILE`), environment variables. Every setting is validated; a bad value is
 * a ConfigError naming the variable, never a silent default. The schema is what the loader reads: every
 * variable and file key it asks for is recorded, and afterwards an unknown `DIM_*` variable or config-file
 * key (a typo such as `DIM_MAX_FRAME_BYTE`) is a ConfigError naming the closest known one.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { LOOKUP_CACHE_MS } from '../dispatch/lookup-cache.ts';
import { DURABILITY_DEFAULTS, DURABILITY_MODES } from '../redis/durability.ts';
import { parseRedisTarget, RedisTargetError } from '../redis/redis-connection.ts';
import {
  NeighbourListError,
  mergeNeighbours,
  parseNeighbourObjects,
  parseNeighbourString,
  parseStationsFile,
} from '../federation/neighbour-list.ts';
import type { NeighbourSpec } from '../federation/neighbour-list.ts';
import { DEFAULT_LIMITS, DEFAULT_OPS, DEFAULT_PUSH } from './station-config.ts';
import type {
  LimitsConfig,
  LogLevel,
  OpsConfig,
  ProxyProtocolMode,
  PushConfig,
  StationConfig,
} from './station-config.ts';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Environment variable → limits field. */
export const LIMIT_VARIABLES: Readonly<Record<string, keyof LimitsConfig>> = {
  DIM_MAX_FRAME_BYTES: 'maxFrameBytes',
  DIM_HANDSHAKE_TIMEOUT_MS: 'handshakeTimeoutMs',
  DIM_IDLE_TIMEOUT_MS: 'idleTimeoutMs',
  DIM_RATE_MESSAGES_PER_SECOND: 'messagesPerSecond',
  DIM_RATE_BURST: 'messageBurst',
  DIM_RATE_MAX_VIOLATIONS: 'maxRateViolations',
  DIM_MAX_CONNECTIONS: 'maxConnections',
  DIM_MAX_CONNECTIONS_PER_IP: 'maxConnectionsPerIp',
  DIM_MAX_HELD_MESSAGES: 'maxHeldMessages',
  DIM_MAX_OUTGOING_BYTES: 'maxOutgoingBytes',
  DIM_MAX_PROTOCOL_ERRORS: 'maxProtocolErrors',
  DIM_BACKLOG_DELAY_MS: 'backlogDelayMs',
  DIM_BACKLOG_HOLD_MS: 'backlogHoldMs',
  DIM_FRAME_TIMEOUT_MS: 'frameTimeoutMs',
  DIM_MIN_BYTES_PER_SECOND: 'minBytesPerSecond',
};

/** `DIM_*` variables read by the project's scripts (not the station) that may share its environment. */
const SCRIPT_VARIABLES: readonly string[] = ['DIM_CLUSTER_PORT'];

/**
 * Variables the loader reads only when another one is set (a provider's details): known even when their
 * reading is skipped, so setting one alone is not reported as a misspelling.
 */
const CONDITIONAL_VARIABLES: readonly string[] = [
  'DIM_PUSH_APNS_KEY_ID',
  'DIM_PUSH_APNS_TEAM_ID',
  'DIM_PUSH_APNS_TOPIC',
  'DIM_PUSH_APNS_SANDBOX',
  'DIM_PUSH_APNS_URL',
  'DIM_PUSH_APNS_SANDBOX_URL',
  'DIM_PUSH_FCM_URL',
  'DIM_PUSH_FCM_TOKEN_URI',
  'DIM_PUSH_FCM_CHANNEL_ID',
  'DIM_PUSH_WEBHOOK_SECRET',
];

/** Edit distance (insertions, deletions, substitutions), for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The known name closest to `name`. */
export function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function unknownError(what: string, name: string, known: Iterable<string>): ConfigError {
  const suggestion = closest(name, known);
  return new ConfigError(
    `unknown ${what} ${name}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`,
  );
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const PROXY_MODES: readonly ProxyProtocolMode[] = ['off', 'optional', 'required'];

function positiveInt(name: string, value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function nonNegativeInt(name: string, value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function port(name: string, value: unknown, allowZero = false): number {
  if (allowZero && (value === 0 || value === '0')) return 0; // any free port (tests, ephemeral runs)
  const n = positiveInt(name, value);
  if (n > 65535) throw new ConfigError(`${name} must be a TCP port (1..65535), got ${n}`);
  return n;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
}

function bool(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1' || value === 'yes') return true;
  if (value === 'false' || value === '0' || value === 'no') return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Build the configuration from `env` (pass `process.env`) and the working directory. File keys use the
 * StationConfig field names (`host`, `port`, `limits: {maxFrameBytes…}`…).
 */
export function loadConfig(env: Env, cwd: string): StationConfig {
  const config = buildConfig(env, cwd);
  return config;
}

function buildConfig(env: Env, cwd: string): StationConfig {
  const knownVariables = new Set<string>(['DIM_CONFIG_FILE', ...SCRIPT_VARIABLES, ...CONDITIONAL_VARIABLES]);
  const knownKeys = new Set<string>(['limits']);
  const knownLimitKeys = new Set<string>();
  const rawFile = env['DIM_CONFIG_FILE'] ? readConfigFile(resolve(cwd, env['DIM_CONFIG_FILE'])) : {};
  const rawLimits = rawFile['limits'] ?? {};
  if (rawLimits === null || typeof rawLimits !== 'object' || Array.isArray(rawLimits))
    throw new ConfigError('config file key limits must be an object');
  // An empty variable counts as unset (a common way to "clear" a setting in compose files and shells).
  const fromEnv = (variable: string): string | undefined => {
    knownVariables.add(variable);
    const value = env[variable];
    return value === undefined || value === '' ? undefined : value;
  };
  const file: Record<string, unknown> = new Proxy(rawFile, {
    get: (target, key) => {
      if (typeof key === 'string') knownKeys.add(key);
      return target[key as string];
    },
  });
  const pick = (variable: string, key: string): unknown => {
    const fromFile = file[key]; // read even when the variable wins: it records the key as known
    return fromEnv(variable) ?? fromFile;
  };
  const fileLimits = rawLimits as Record<string, unknown>;
  const limits: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [variable, key] of Object.entries(LIMIT_VARIABLES)) {
    knownLimitKeys.add(key);
    const value = fromEnv(variable) ?? fileLimits[key];
    if (value !== undefined) limits[key] = positiveInt(variable, value);
  }
  const dataDir = resolve(cwd, String(pick('DIM_DATA_DIR', 'dataDir') ?? 'data'));
  const keyFile = pick('DIM_KEY_FILE', 'keyFile');
  const publicPort = pick('DIM_PUBLIC_PORT', 'publicPort');
  const redisUrl = pick('DIM_REDIS_URL', 'redisUrl');
  if (redisUrl !== undefined) {
    if (typeof redisUrl !== 'string') throw new ConfigError('DIM_REDIS_URL must be a string');
    try {
      parseRedisTarget(redisUrl);
    } catch (err) {
      if (!(err instanceof RedisTargetError)) throw err;
      throw new ConfigError(
        `DIM_REDIS_URL must be a redis:// or rediss:// URL, or several separated by commas (Redis Cluster seed nodes): ${err.message}`,
      );
    }
  }
  const trusted = pick('DIM_TRUSTED_STATIONS', 'trustedStations');
  const trustedStations = listOf(trusted);
  const publicHost = pick('DIM_PUBLIC_HOST', 'publicHost');
  const ansValue = pick('DIM_ANS', 'ans');
  const ans: Record<string, string> = {};
  if (typeof ansValue === 'string') {
    for (const pair of ansValue.split(',').filter((p) => p.trim().length > 0)) {
      const [name, id] = pair.split('=').map((s) => s.trim());
      if (!name || !id)
        throw new ConfigError(
          `DIM_ANS must be name=ID pairs separated by commas, got ${JSON.stringify(pair)}`,
        );
      ans[name] = id;
    }
  } else if (ansValue !== undefined && ansValue !== null && typeof ansValue === 'object') {
    for (const [name, id] of Object.entries(ansValue)) ans[name] = String(id);
  }
  const instanceName = pick('DIM_INSTANCE_NAME', 'instanceName');
  const neighbors = loadNeighbours(fromEnv, file, cwd);
  const busClaimIdleMs = pick('DIM_BUS_CLAIM_IDLE_MS', 'busClaimIdleMs');
  // ---- hardening (issue 13): trusted proxies, TLS ----
  const proxies = pick('DIM_TRUSTED_PROXIES', 'trustedProxies');
  const trustedProxies = listOf(proxies);
  for (const entry of trustedProxies) {
    if (!isAddressOrCidr(entry))
      throw new ConfigError(
        `DIM_TRUSTED_PROXIES must list IP addresses or CIDR blocks, got ${JSON.stringify(entry)}`,
      );
  }
  const tlsCert = pick('DIM_TLS_CERT_FILE', 'tlsCertFile');
  const tlsKey = pick('DIM_TLS_KEY_FILE', 'tlsKeyFile');
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    throw new ConfigError('DIM_TLS_CERT_FILE and DIM_TLS_KEY_FILE must be set together');
  const config: StationConfig = {
    host: String(pick('DIM_HOST', 'host') ?? '0.0.0.0'),
    port: port('DIM_PORT', pick('DIM_PORT', 'port') ?? 9394, true),
    publicHost: publicHost === undefined ? undefined : String(publicHost),
    publicPort: publicPort === undefined ? undefined : port('DIM_PUBLIC_PORT', publicPort),
    dataDir,
    keyFile: keyFile === undefined ? join(dataDir, 'station.json') : resolve(cwd, String(keyFile)),
    redisUrl: redisUrl as string | undefined,
    redisPrefix: String(pick('DIM_REDIS_PREFIX', 'redisPrefix') ?? 'dim:'),
    proxyProtocol: oneOf(
      'DIM_PROXY_PROTOCOL',
      pick('DIM_PROXY_PROTOCOL', 'proxyProtocol') ?? 'off',
      PROXY_MODES,
    ),
    verifyAllMessages: bool(
      'DIM_VERIFY_ALL_MESSAGES',
      pick('DIM_VERIFY_ALL_MESSAGES', 'verifyAllMessages') ?? false,
    ),
    trustedStations,
    logLevel: oneOf('DIM_LOG_LEVEL', pick('DIM_LOG_LEVEL', 'logLevel') ?? 'info', LOG_LEVELS),
    shards: positiveInt('DIM_SHARDS', pick('DIM_SHARDS', 'shards') ?? 4),
    ans,
    instanceName: instanceName === undefined ? undefined : String(instanceName),
    busClaimIdleMs:
      busClaimIdleMs === undefined ? undefined : positiveInt('DIM_BUS_CLAIM_IDLE_MS', busClaimIdleMs),
    limits: limits as unknown as LimitsConfig,
    // Redis Cluster and durability (issue 9)
    redisDurability: oneOf(
      'DIM_REDIS_DURABILITY',
      pick('DIM_REDIS_DURABILITY', 'redisDurability') ?? 'write',
      DURABILITY_MODES,
    ),
    redisReplicaTimeoutMs: positiveInt(
      'DIM_REDIS_REPLICA_TIMEOUT_MS',
      pick('DIM_REDIS_REPLICA_TIMEOUT_MS', 'redisReplicaTimeoutMs') ?? DURABILITY_DEFAULTS.replicaTimeoutMs,
    ),
    trustedProxies,
    tlsCertFile: tlsCert === undefined ? undefined : resolve(cwd, String(tlsCert)),
    tlsKeyFile: tlsKey === undefined ? undefined : resolve(cwd, String(tlsKey)),
    ops: loadOpsConfig(fromEnv, (file['ops'] ?? {}) as Record<string, unknown>),
    push: loadPushConfig(fromEnv, file, cwd),
    neighbors,
    federationQueueLimit: positiveInt(
      'DIM_FEDERATION_QUEUE_LIMIT',
      pick('DIM_FEDERATION_QUEUE_LIMIT', 'federationQueueLimit') ?? 10_000,
    ),
    federationMaxBackoffMs: positiveInt(
      'DIM_FEDERATION_MAX_BACKOFF_MS',
      pick('DIM_FEDERATION_MAX_BACKOFF_MS', 'federationMaxBackoffMs') ?? 30_000,
    ),
    lookupCacheMs: nonNegativeInt(
      'DIM_LOOKUP_CACHE_MS',
      pick('DIM_LOOKUP_CACHE_MS', 'lookupCacheMs') ?? LOOKUP_CACHE_MS,
    ),
  };
  // Every field above asked for its variable and file key: anything else is unknown.
  for (const name of Object.keys(env)) {
    if (name.startsWith('DIM_') && !knownVariables.has(name))
      throw unknownError('environment variable', name, knownVariables);
  }
  for (const key of Object.keys(rawFile)) {
    if (!knownKeys.has(key)) throw unknownError('config file key', key, knownKeys);
  }
  for (const key of Object.keys(fileLimits)) {
    if (!knownLimitKeys.has(key)) throw unknownError('config file key limits.', key, knownLimitKeys);
  }
  return config;
}

/**
 * The ops block: DIM_OPS_HOST, DIM_OPS_PORT (`off` disables the server), DIM_OPS_TOKEN, DIM_OPS_URL,
 * DIM_DRAIN_WINDOW_MS, DIM_DRAIN_TIMEOUT_MS; file keys under `ops` ({host, port, token, publicUrl,
 * drainWindowMs, drainTimeoutMs}).
 */
function loadOpsConfig(
  fromEnv: (variable: string) => string | undefined,
  file: Record<string, unknown>,
): OpsConfig {
  const pick = (variable: string, key: string): unknown => fromEnv(variable) ?? file[key];
  const portValue = pick('DIM_OPS_PORT', 'port');
  const opsPort =
    portValue === undefined
      ? DEFAULT_OPS.port
      : portValue === 'off' || portValue === false
        ? undefined
        : port('DIM_OPS_PORT', portValue, true);
  const token = pick('DIM_OPS_TOKEN', 'token');
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
    throw new ConfigError('DIM_OPS_TOKEN must be a string of at least 16 characters');
  }
  const publicUrl = pick('DIM_OPS_URL', 'publicUrl');
  if (publicUrl !== undefined && (typeof publicUrl !== 'string' || !/^https?:\/\//.test(publicUrl))) {
    throw new ConfigError('DIM_OPS_URL must be an http:// or https:// URL');
  }
  const windowValue = pick('DIM_DRAIN_WINDOW_MS', 'drainWindowMs');
  const drainWindowMs =
    windowValue === undefined || windowValue === '0' || windowValue === 0
      ? windowValue === undefined
        ? DEFAULT_OPS.drainWindowMs
        : 0
      : positiveInt('DIM_DRAIN_WINDOW_MS', windowValue);
  const timeoutValue = pick('DIM_DRAIN_TIMEOUT_MS', 'drainTimeoutMs');
  const drainTimeoutMs =
    timeoutValue === undefined
      ? Math.max(DEFAULT_OPS.drainTimeoutMs, drainWindowMs + 15_000)
      : positiveInt('DIM_DRAIN_TIMEOUT_MS', timeoutValue);
  if (drainTimeoutMs <= drainWindowMs) {
    throw new ConfigError(
      `DIM_DRAIN_TIMEOUT_MS (${drainTimeoutMs}) must exceed DIM_DRAIN_WINDOW_MS (${drainWindowMs})`,
    );
  }
  return {
    host: String(pick('DIM_OPS_HOST', 'host') ?? DEFAULT_OPS.host),
    port: opsPort,
    token: token as string | undefined,
    publicUrl: publicUrl as string | undefined,
    drainWindowMs,
    drainTimeoutMs,
  };
}

// ---- push notifications ------------------------------------------------------------------------------

/** Environment variable → field of the `push` block (numbers). */
export const PUSH_NUMBER_VARIABLES = {
  DIM_PUSH_COALESCE_MS: 'coalesceMs',
  DIM_PUSH_CONCURRENCY: 'concurrency',
  DIM_PUSH_ATTEMPTS: 'attempts',
  DIM_PUSH_BACKOFF_MS: 'backoffMs',
  DIM_PUSH_MAX_BACKOFF_MS: 'maxBackoffMs',
  DIM_PUSH_RATE_PER_SECOND: 'ratePerSecond',
  DIM_PUSH_LOCK_MS: 'lockDurationMs',
} as const;

function httpUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^https?:\/\/[^\s]+$/.test(value))
    throw new ConfigError(`${name} must be an http:// or https:// URL`);
  return value;
}

function loadPushConfig(
  fromEnv: (variable: string) => string | undefined,
  file: Record<string, unknown>,
  cwd: string,
): PushConfig {
  const block = (file['push'] ?? {}) as Record<string, unknown>;
  const sub = (name: string): Record<string, unknown> => (block[name] ?? {}) as Record<string, unknown>;
  const apnsFile = sub('apns');
  const fcmFile = sub('fcm');
  const webhookFile = sub('webhook');
  const str = (variable: string, value: unknown): string | undefined => {
    const v = fromEnv(variable) ?? value;
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ConfigError(`${variable} must be a string`);
    return v;
  };
  const numbers: Record<string, number> = { ...DEFAULT_PUSH };
  for (const [variable, key] of Object.entries(PUSH_NUMBER_VARIABLES)) {
    const value = fromEnv(variable) ?? block[key];
    if (value === undefined) continue;
    if (key === 'coalesceMs' && (value === 0 || value === '0')) numbers[key] = 0;
    else numbers[key] = positiveInt(variable, value);
  }
  if (numbers['attempts']! > 100) throw new ConfigError('DIM_PUSH_ATTEMPTS must be at most 100');

  const keyFile = str('DIM_PUSH_APNS_KEY_FILE', apnsFile['keyFile']);
  let apns: PushConfig['apns'];
  if (keyFile !== undefined) {
    const keyId = str('DIM_PUSH_APNS_KEY_ID', apnsFile['keyId']);
    const teamId = str('DIM_PUSH_APNS_TEAM_ID', apnsFile['teamId']);
    if (keyId === undefined || !/^[A-Z0-9]{10}$/.test(keyId))
      throw new ConfigError('DIM_PUSH_APNS_KEY_ID must be the 10-character key ID of the .p8 key');
    if (teamId === undefined || !/^[A-Z0-9]{10}$/.test(teamId))
      throw new ConfigError('DIM_PUSH_APNS_TEAM_ID must be the 10-character team ID');
    const productionUrl = str('DIM_PUSH_APNS_URL', apnsFile['productionUrl']);
    const sandboxUrl = str('DIM_PUSH_APNS_SANDBOX_URL', apnsFile['sandboxUrl']);
    apns = {
      keyFile: resolve(cwd, keyFile),
      keyId,
      teamId,
      topic: str('DIM_PUSH_APNS_TOPIC', apnsFile['topic']),
      sandbox: bool(
        'DIM_PUSH_APNS_SANDBOX',
        fromEnv('DIM_PUSH_APNS_SANDBOX') ?? apnsFile['sandbox'] ?? false,
      ),
      productionUrl: productionUrl === undefined ? undefined : httpUrl('DIM_PUSH_APNS_URL', productionUrl),
      sandboxUrl: sandboxUrl === undefined ? undefined : httpUrl('DIM_PUSH_APNS_SANDBOX_URL', sandboxUrl),
    };
  }

  const accountFile = str('DIM_PUSH_FCM_SERVICE_ACCOUNT_FILE', fcmFile['serviceAccountFile']);
  let fcm: PushConfig['fcm'];
  if (accountFile !== undefined) {
    const url = str('DIM_PUSH_FCM_URL', fcmFile['url']);
    const tokenUri = str('DIM_PUSH_FCM_TOKEN_URI', fcmFile['tokenUri']);
    fcm = {
      serviceAccountFile: resolve(cwd, accountFile),
      url: url === undefined ? undefined : httpUrl('DIM_PUSH_FCM_URL', url),
      tokenUri: tokenUri === undefined ? undefined : httpUrl('DIM_PUSH_FCM_TOKEN_URI', tokenUri),
      channelId: str('DIM_PUSH_FCM_CHANNEL_ID', fcmFile['channelId']),
    };
  }

  const webhookUrl = str('DIM_PUSH_WEBHOOK_URL', webhookFile['url']);
  let webhook: PushConfig['webhook'];
  if (webhookUrl !== undefined) {
    const secret = str('DIM_PUSH_WEBHOOK_SECRET', webhookFile['secret']);
    if (secret === undefined || secret.length < 16)
      throw new ConfigError(
        'DIM_PUSH_WEBHOOK_SECRET must be set (at least 16 characters) with DIM_PUSH_WEBHOOK_URL',
      );
    webhook = { url: httpUrl('DIM_PUSH_WEBHOOK_URL', webhookUrl), secret };
  }
  const caFile = str('DIM_PUSH_CA_FILE', block['caFile']);
  return {
    ...(numbers as unknown as typeof DEFAULT_PUSH),
    apns,
    fcm,
    webhook,
    caFile: caFile === undefined ? undefined : resolve(cwd, caFile),
  };
}

function listOf(value: unknown): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.map(String);
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function isAddressOrCidr(entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** Neighbours: config file `neighbors`, then `DIM_STATIONS_FILE` (`stationsFile`), then `DIM_NEIGHBORS`. */
function loadNeighbours(
  fromEnv: (variable: string) => string | undefined,
  file: Record<string, unknown>,
  cwd: string,
): NeighbourSpec[] {
  try {
    const lists: NeighbourSpec[][] = [];
    if (file['neighbors'] !== undefined) lists.push(parseNeighbourObjects(file['neighbors'], 'neighbors'));
    const fromFile = file['stationsFile']; // read even when the variable wins: it records the key as known
    const stationsFile = fromEnv('DIM_STATIONS_FILE') ?? fromFile;
    if (stationsFile !== undefined) {
      const path = resolve(cwd, String(stationsFile));
      lists.push(parseStationsFile(readConfigFile(path), `DIM_STATIONS_FILE ${path}`));
    }
    const env = fromEnv('DIM_NEIGHBORS');
    if (env !== undefined) lists.push(parseNeighbourString(env));
    return mergeNeighbours(lists);
  } catch (err) {
    if (err instanceof NeighbourListError) throw new ConfigError(err.message);
    throw err;
  }
}
