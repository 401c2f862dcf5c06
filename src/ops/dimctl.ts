/**
 * dimctl: the operator's command line for a running station — queues, dead letters, sessions, gateways,
 * drains and a synthetic probe. It reads Redis directly (standalone or cluster client: no key scans) or,
 * for an embedded station, talks to its admin API (`--admin URL`); actions only a process can take (kick,
 * drain) go to the gateways' admin APIs, found through their announcements. Human tables by default,
 * `--json` for scripts. Exit codes: see EXIT.
 */
import { parseArgs } from 'node:util';
import { AdminClient, AdminError } from './admin-client.ts';
import { probeStation } from './probe.ts';
import type { ProbeResult } from './probe.ts';
import { RedisInspector } from './redis-inspector.ts';
import type { RedisClient } from './redis-inspector.ts';
import { createRedisKeys } from '../redis/redis-keys.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type {
  DeadLetterRecord,
  GatewayStatus,
  LinkStatus,
  SessionInfo,
  StationInspector,
  StationStatus,
  StreamStatus,
} from './station-inspector.ts';
import { InspectError } from './station-inspector.ts';
import { shortStreamName } from './stream-names.ts';
import { formatDuration, formatTime, renderTable } from './text-table.ts';

export const EXIT = {
  OK: 0,
  /** The check found a problem, or the thing asked about does not exist (no session, no dead letter…). */
  PROBLEM: 1,
  USAGE: 2,
  /** Redis or the admin API cannot be reached. */
  UNAVAILABLE: 3,
  /** The admin API refused the token. */
  UNAUTHORIZED: 4,
} as const;

export interface DimctlSettings {
  readonly redisUrl: string | undefined;
  readonly prefix: string;
  readonly shards: number;
  /** Admin API token (DIM_OPS_TOKEN). */
  readonly token: string | undefined;
  readonly openRedis: (url: string) => Promise<RedisClient & { quit(): Promise<unknown> }>;
}

export interface DimctlIo {
  out(text: string): void;
  err(text: string): void;
}

export const USAGE = `usage: dimctl [--json] [--admin URL] [--token T] COMMAND …

  status                       gateways, streams, dead letters — one screen (exit 1 if something needs attention)
  streams                      every stream: length, groups, lag, pending, oldest pending, dead letters
  pending STREAM [--count N]   pending entries of a stream (inbound:0, store:1, deliver:GATEWAY or a full key)
  dead list [--count N]        dead letters of every stream
  dead show ID [--stream S]    one dead letter with its payload
  dead retry ID [--stream S]   put it back on its stream (re-driven; removed from the dead letters)
  dead drop ID [--stream S]    delete it
  sessions USER                where a user is connected (exit 1 when offline)
  inbox USER                   stored messages: count, oldest, undelivered per terminal
  kick USER [--terminal T]     close the user's connections (asks their gateways)
  gateways                     gateways: heartbeat age, sessions, connections, version, readiness
  drain GATEWAY                start a gateway's lame-duck drain (it exits when done)
  probe HOST:PORT [--ws] [--timeout MS]
                               two throwaway users exchange a message; times handshake, login, relay, receipt

Station: DIM_REDIS_URL (+ DIM_REDIS_PREFIX, DIM_SHARDS), or --admin http://HOST:OPSPORT for an embedded
station. Admin actions use DIM_OPS_TOKEN or --token.
Exit codes: 0 ok, 1 problem / not found, 2 usage, 3 unavailable, 4 unauthorized.
`;

class UsageError extends Error {}

interface Target {
  readonly inspector: StationInspector;
  readonly keys: RedisKeys | undefined;
  kick(user: string, terminal: string | undefined): Promise<{ gateway: string; closed: number }[]>;
  drain(gateway: string): Promise<{ gateway: string; windowMs: number }>;
  /** Client addresses of the sessions, asked from their gateways (best effort). */
  enrich(user: string, sessions: SessionInfo[]): Promise<SessionInfo[]>;
  close(): Promise<void>;
}

function adminTarget(client: AdminClient): Target {
  return {
    inspector: client,
    keys: undefined,
    kick: async (user, terminal) => {
      const r = await client.kick(user, terminal);
      return [{ gateway: r.gateway ?? client.url, closed: r.closed }];
    },
    drain: async (gateway) => {
      const r = await client.drain();
      return { gateway, windowMs: r.windowMs };
    },
    enrich: async (_user, sessions) => sessions,
    close: async () => undefined,
  };
}

function redisTarget(
  redis: RedisClient & { quit(): Promise<unknown> },
  settings: DimctlSettings,
  token: string | undefined,
): Target {
  const keys = createRedisKeys(settings.prefix);
  const inspector = new RedisInspector({ redis, keys, shards: settings.shards });
  const adminOf = async (gatewayId: string): Promise<AdminClient> => {
    const gateway = (await inspector.gateways()).find((g) => g.id === gatewayId);
    if (gateway === undefined) throw new InspectError('NOT_FOUND', `no gateway ${gatewayId}`);
    if (gateway.ops === undefined)
      throw new InspectError(
        'UNAVAILABLE',
        `gateway ${gatewayId} announces no ops server (not running, or started without DIM_OPS_PORT)`,
      );
    return new AdminClient({ url: gateway.ops, token });
  };
  return {
    inspector,
    keys,
    kick: async (user, terminal) => {
      const sessions = (await inspector.sessions(user)).filter(
        (s) => terminal === undefined || s.terminal === terminal,
      );
      const gateways = [...new Set(sessions.map((s) => s.gatewayId))];
      return Promise.all(
        gateways.map(async (g) => {
          const r = await (await adminOf(g)).kick(user, terminal);
          return { gateway: g, closed: r.closed };
        }),
      );
    },
    drain: async (gateway) => {
      const r = await (await adminOf(gateway)).drain();
      return { gateway, windowMs: r.windowMs };
    },
    enrich: async (user, sessions) => {
      const byGateway = new Map<string, SessionInfo[]>();
      for (const g of new Set(sessions.map((s) => s.gatewayId))) {
        try {
          byGateway.set(g, await (await adminOf(g)).sessions(user));
        } catch {
          // no address for this gateway's sessions (no ops server, no token): shown as unknown
        }
      }
      return sessions.map((s) => {
        const remote = byGateway.get(s.gatewayId)?.find((r) => r.connId === s.connId);
        return remote === undefined ? s : { ...s, remote: remote.remote, transport: remote.transport };
      });
    },
    close: async () => {
      await redis.quit().catch(() => undefined);
    },
  };
}

const n = (value: string | undefined, name: string, fallback: number): number => {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isSafeInteger(v) || v <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return v;
};

export async function runDimctl(
  argv: readonly string[],
  settings: DimctlSettings,
  io: DimctlIo,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        admin: { type: 'string' },
        token: { type: 'string' },
        terminal: { type: 'string' },
        stream: { type: 'string' },
        count: { type: 'string' },
        timeout: { type: 'string' },
        ws: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.err(`dimctl: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    (command === undefined && !values.help ? io.err : io.out)(USAGE);
    return command === undefined && !values.help ? EXIT.USAGE : EXIT.OK;
  }
  const json = values.json;
  const print = (human: string, data: unknown): void =>
    io.out(json ? `${JSON.stringify(data, null, 2)}\n` : human);
  const token = values.token ?? settings.token;
  let target: Target | undefined;
  try {
    if (command === 'probe') return await probe(rest, values, json, io);
    if (values.admin !== undefined) {
      target = adminTarget(new AdminClient({ url: values.admin, token }));
    } else if (settings.redisUrl !== undefined) {
      target = redisTarget(await settings.openRedis(settings.redisUrl), settings, token);
    } else {
      throw new UsageError('no station to inspect: set DIM_REDIS_URL, or pass --admin http://HOST:OPSPORT');
    }
    const arg = (i: number, name: string): string => {
      const v = rest[i];
      if (v === undefined) throw new UsageError(`${command}: ${name} is required`);
      return v;
    };
    const t = target;
    const keys = t.keys;
    const short = (s: string): string =>
      keys ? shortStreamName(keys, s) : s.replace(/^[^:]*:/, '').replace(/[{}]/g, '');
    switch (command) {
      case 'status': {
        const status = await t.inspector.status();
        const problems = statusProblems(status);
        print(renderStatus(status, problems, short), { ...status, problems });
        return problems.length > 0 ? EXIT.PROBLEM : EXIT.OK;
      }
      case 'streams': {
        const streams = await t.inspector.streams();
        print(renderStreams(streams, short), streams);
        return EXIT.OK;
      }
      case 'pending': {
        const report = await t.inspector.pending(arg(0, 'STREAM'), n(values.count, 'count', 50));
        const rows = report.groups.flatMap((g) =>
          g.entries.map((e) => [g.group, e.id, e.consumer, formatDuration(e.idleMs), e.deliveries]),
        );
        print(
          `${report.stream}\n${renderTable(['group', 'id', 'consumer', 'idle', 'deliveries'], rows)}`,
          report,
        );
        return EXIT.OK;
      }
      case 'dead':
        return await dead(t, rest, values, print, short);
      case 'sessions': {
        const user = arg(0, 'USER');
        const sessions = await t.enrich(user, await t.inspector.sessions(user));
        print(
          sessions.length === 0
            ? `${user} is offline (no session)\n`
            : renderTable(
                ['gateway', 'conn', 'terminal', 'active', 'since', 'remote', 'transport'],
                sessions.map((s) => [
                  s.gatewayId,
                  s.connId,
                  s.terminal,
                  s.active,
                  formatTime(s.since),
                  s.remote,
                  s.transport,
                ]),
              ),
          sessions,
        );
        return sessions.length === 0 ? EXIT.PROBLEM : EXIT.OK;
      }
      case 'inbox': {
        const inbox = await t.inspector.inbox(arg(0, 'USER'));
        print(
          `${inbox.user}: ${inbox.stored} stored, oldest ${formatTime(inbox.oldestStoredAt)}\n` +
            (inbox.terminals.length === 0
              ? ''
              : renderTable(
                  ['terminal', 'undelivered'],
                  inbox.terminals.map((x) => [x.terminal, x.undelivered]),
                )),
          inbox,
        );
        return EXIT.OK;
      }
      case 'kick': {
        const user = arg(0, 'USER');
        const results = await t.kick(user, values.terminal);
        const closed = results.reduce((sum, r) => sum + r.closed, 0);
        print(
          closed === 0
            ? `${user}${values.terminal ? `/${values.terminal}` : ''} has no connection to close\n`
            : results.map((r) => `${r.gateway}: closed ${r.closed} connection(s)\n`).join(''),
          { user, terminal: values.terminal, closed, gateways: results },
        );
        return closed === 0 ? EXIT.PROBLEM : EXIT.OK;
      }
      case 'gateways': {
        const gateways = await t.inspector.gateways();
        print(renderGateways(gateways), gateways);
        return gateways.some((g) => !g.alive) ? EXIT.PROBLEM : EXIT.OK;
      }
      case 'drain': {
        const result = await t.drain(arg(0, 'GATEWAY'));
        print(
          `${result.gateway}: draining — clients are closed over ${formatDuration(result.windowMs)}, then it exits\n`,
          result,
        );
        return EXIT.OK;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    return fail(err, io);
  } finally {
    await target?.close();
  }
}

function fail(err: unknown, io: DimctlIo): number {
  if (err instanceof UsageError) {
    io.err(`dimctl: ${err.message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (err instanceof AdminError || err instanceof InspectError) {
    io.err(`dimctl: ${err.message}\n`);
    if (err.code === 'UNAUTHORIZED') return EXIT.UNAUTHORIZED;
    if (err.code === 'UNAVAILABLE') return EXIT.UNAVAILABLE;
    if (err.code === 'BAD_ARGUMENT') return EXIT.USAGE;
    return EXIT.PROBLEM;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`dimctl: ${message}\n`);
  return EXIT.UNAVAILABLE;
}

async function dead(
  t: Target,
  rest: readonly string[],
  values: { stream?: string | undefined; count?: string | undefined },
  print: (human: string, data: unknown) => void,
  short: (s: string) => string,
): Promise<number> {
  const [sub, id] = rest;
  const needId = (): string => {
    if (id === undefined) throw new UsageError(`dead ${sub}: ID is required`);
    return id;
  };
  switch (sub) {
    case 'list':
    case undefined: {
      const list = await t.inspector.deadLetters(n(values.count, 'count', 100));
      print(
        list.length === 0
          ? 'no dead letters\n'
          : renderTable(
              ['id', 'from', 'original', 'group', 'deliveries', 'age', 'reason'],
              list.map((d) => [
                d.id,
                short(d.from),
                d.originalId,
                d.group,
                d.deliveries,
                formatDuration(d.ageMs),
                d.reason.slice(0, 80),
              ]),
            ),
        list,
      );
      return EXIT.OK;
    }
    case 'show': {
      const record = await t.inspector.deadLetter(needId(), values.stream);
      if (record === undefined) throw new InspectError('NOT_FOUND', `no dead letter ${id}`);
      print(renderDeadLetter(record, short), record);
      return EXIT.OK;
    }
    case 'retry': {
      const result = await t.inspector.retryDeadLetter(needId(), values.stream);
      if (result === undefined) throw new InspectError('NOT_FOUND', `no dead letter ${id}`);
      print(`dead letter ${id} re-driven to ${short(result.stream)} as ${result.id}\n`, {
        retried: id,
        ...result,
      });
      return EXIT.OK;
    }
    case 'drop': {
      if (!(await t.inspector.dropDeadLetter(needId(), values.stream)))
        throw new InspectError('NOT_FOUND', `no dead letter ${id}`);
      print(`dead letter ${id} dropped\n`, { dropped: id });
      return EXIT.OK;
    }
    default:
      throw new UsageError(`unknown dead-letter command ${JSON.stringify(sub)} (list, show, retry, drop)`);
  }
}

async function probe(
  rest: readonly string[],
  values: { ws?: boolean | undefined; timeout?: string | undefined },
  json: boolean,
  io: DimctlIo,
): Promise<number> {
  const target = rest[0];
  const m = target === undefined ? null : /^(.+):(\d+)$/.exec(target);
  if (m === null) throw new UsageError('probe: HOST:PORT is required');
  let result: ProbeResult;
  try {
    result = await probeStation({
      host: m[1]!.replace(/^\[|\]$/g, ''),
      port: Number(m[2]),
      framing: values.ws ? 'ws' : 'mtp',
      timeoutMs: n(values.timeout, 'timeout', 10_000),
    });
  } catch (err) {
    return fail(err, io);
  }
  if (json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    io.out(
      `probe ${result.target} (${result.framing})${result.station ? ` station ${result.station}` : ''}\n` +
        renderTable(
          ['step', 'result', 'time', 'detail'],
          result.steps.map((s) => [s.name, s.ok ? 'ok' : 'FAILED', `${s.ms.toFixed(1)}ms`, s.detail]),
        ),
    );
  }
  if (!result.ok) io.err(`dimctl: probe failed: ${result.error}\n`);
  return result.ok ? EXIT.OK : EXIT.PROBLEM;
}

/** A link to a neighbour that is not up for this long is a problem (ms). */
export const LINK_DOWN_PROBLEM_MS = 60_000;

function renderLinks(links: readonly LinkStatus[]): string {
  return renderTable(
    [
      'neighbour',
      'address',
      'state',
      'for',
      'bridge',
      'attempts',
      'sent',
      'received',
      'queued',
      'last error',
    ],
    links.map((l) => [
      l.neighbour,
      l.address,
      l.owned ? l.state : `${l.state} (no bridge)`,
      formatDuration(l.forMs),
      l.owner,
      l.attempts,
      l.sent,
      l.received,
      l.queued,
      l.lastError,
    ]),
  );
}

/** Things an operator should look at; empty when all is well. */
export function statusProblems(status: StationStatus): string[] {
  const out: string[] = [];
  if (status.gateways.length === 0) out.push('no gateway is registered');
  for (const g of status.gateways) {
    if (!g.alive) out.push(`gateway ${g.id}: no heartbeat`);
    else if (g.draining) out.push(`gateway ${g.id}: draining`);
    else if (g.ready === false) out.push(`gateway ${g.id}: not ready`);
  }
  if (status.push !== undefined && status.push.failed > 0)
    out.push(`push queue: ${status.push.failed} failed job(s)`);
  for (const l of status.links ?? []) {
    if (!l.owned) out.push(`neighbour ${l.neighbour}: no bridge holds the link`);
    else if (l.state !== 'up' && l.forMs > LINK_DOWN_PROBLEM_MS)
      out.push(
        `neighbour ${l.neighbour}: ${l.state} for ${formatDuration(l.forMs)}${l.lastError === undefined ? '' : ` (${l.lastError})`}`,
      );
  }
  for (const s of status.streams) {
    if (s.deadLetters > 0) out.push(`${s.name}: ${s.deadLetters} dead letter(s)`);
    for (const g of s.groups) {
      if (g.oldestPendingMs !== undefined && g.oldestPendingMs > 60_000)
        out.push(`${s.name} (${g.name}): an entry pending for ${formatDuration(g.oldestPendingMs)}`);
    }
    if ((s.kind === 'inbound' || s.kind === 'store') && s.groups.every((g) => g.consumers === 0))
      out.push(
        `${s.name}: no consumer group reads it (is the ${s.kind === 'inbound' ? 'dispatcher' : 'storage worker'} running?)`,
      );
  }
  return out;
}

function renderGateways(gateways: readonly GatewayStatus[]): string {
  if (gateways.length === 0) return 'no gateways\n';
  return renderTable(
    ['gateway', 'state', 'heartbeat', 'sessions', 'connections', 'version', 'ops'],
    gateways.map((g) => [
      g.id,
      !g.alive ? 'DEAD' : g.draining ? 'draining' : g.ready === false ? 'NOT READY' : 'up',
      formatDuration(g.heartbeatAgeMs),
      g.sessions,
      g.connections,
      g.version,
      g.ops,
    ]),
  );
}

function renderStreams(streams: readonly StreamStatus[], short: (s: string) => string): string {
  const rows = streams.flatMap((s) => {
    const groups = s.groups.length > 0 ? s.groups : [undefined];
    return groups.map((g, i) => [
      i === 0 ? short(s.name) : '',
      i === 0 ? s.length : undefined,
      g?.name,
      g?.consumers,
      g?.lag,
      g?.pending,
      formatDuration(g?.oldestPendingMs),
      i === 0 ? s.deadLetters : undefined,
    ]);
  });
  return renderTable(
    ['stream', 'length', 'group', 'consumers', 'lag', 'pending', 'oldest pending', 'dead'],
    rows,
  );
}

function renderStatus(
  status: StationStatus,
  problems: readonly string[],
  short: (s: string) => string,
): string {
  const parts = [
    `station (${status.engine} engine, ${status.shards} shards) at ${formatTime(status.at)}\n`,
    `\nGATEWAYS\n${renderGateways(status.gateways)}`,
    `\nSTREAMS\n${renderStreams(status.streams, short)}`,
    `\ndead letters: ${status.deadLetters}    messages accepted (inbound, all time): ${status.inboundAdded ?? '-'}\n`,
  ];
  if (status.push !== undefined) {
    const p = status.push;
    parts.push(
      `push queue: ${p.waiting} waiting, ${p.active} active, ${p.delayed} delayed, ${p.prioritized} prioritized, ${p.failed} failed, ${p.completed} completed${p.paused > 0 ? `, ${p.paused} paused` : ''}\n`,
    );
  }
  if (status.links !== undefined && status.links.length > 0) {
    parts.push(`\nNEIGHBOURS\n${renderLinks(status.links)}`);
  }
  if (status.instances.length > 0) {
    parts.push(
      `\nPROCESSES\n${renderTable(
        ['name', 'roles', 'ready', 'ops', 'up', 'version'],
        status.instances.map((i) => [
          i.name,
          i.roles.join(','),
          i.draining ? 'draining' : i.ready,
          i.ops,
          formatDuration(status.at - i.startedAt),
          i.version,
        ]),
      )}`,
    );
  }
  parts.push(
    problems.length === 0 ? '\nall good\n' : `\nATTENTION\n${problems.map((p) => `  - ${p}\n`).join('')}`,
  );
  return parts.join('');
}

function renderDeadLetter(d: DeadLetterRecord, short: (s: string) => string): string {
  return (
    [
      `id:          ${d.id} (in ${short(d.stream)})`,
      `from:        ${short(d.from)} entry ${d.originalId}`,
      `group:       ${d.group} (consumer ${d.consumer})`,
      `deliveries:  ${d.deliveries}`,
      `age:         ${formatDuration(d.ageMs)}`,
      `reason:      ${d.reason}`,
      `order key:   ${d.orderKey ?? '-'}`,
      ...Object.entries(d.fields ?? {}).map(
        ([k, v]) => `field ${k.padEnd(6)} ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} chars)` : v}`,
      ),
    ].join('\n') + '\n'
  );
}
