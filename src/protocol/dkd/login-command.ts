/**
 * `login` (dimples common/protocol/login.py): broadcast to everyone@everywhere after the handshake and
 * every 5 minutes. Carries the station the client is connected to, which is how roaming is detected.
 */
import { tryParseId } from '../mkm/identifier.ts';
import type { ID } from '../mkm/identifier.ts';
import type { Content } from './content.ts';

export interface LoginStation {
  readonly id: ID | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
}

export interface LoginCommand {
  readonly id: ID;
  readonly time: number | undefined;
  readonly terminal: string | undefined;
  readonly device: string | undefined;
  readonly agent: string | undefined;
  readonly station: LoginStation | undefined;
  readonly provider: ID | undefined;
}

function optionalString(value: unknown, max = 256): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}

function idOf(value: unknown): ID | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const dict = value as Record<string, unknown>;
  return tryParseId(dict['did'] ?? dict['ID']);
}

export function parseLogin(content: Content): LoginCommand | undefined {
  if (content.command !== 'login') return undefined;
  const id = tryParseId(content.dict['did'] ?? content.dict['ID']);
  if (!id) return undefined;
  const stationValue = content.dict['station'];
  let station: LoginStation | undefined;
  if (stationValue !== null && typeof stationValue === 'object') {
    const dict = stationValue as Record<string, unknown>;
    const port = dict['port'];
    station = {
      id: idOf(dict),
      host: optionalString(dict['host']),
      port: typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined,
    };
  }
  return {
    id,
    time: content.time,
    terminal: optionalString(content.dict['terminal'], 64) ?? id.terminal,
    device: optionalString(content.dict['device']),
    agent: optionalString(content.dict['agent']),
    station,
    provider: idOf(content.dict['provider']),
  };
}
