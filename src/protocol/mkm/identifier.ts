/**
 * DIM IDs: `name@address/terminal` (name and terminal optional). Parsed IDs are interned in a bounded
 * cache because the same few IDs appear in every message. The entity type comes from the address
 * network byte (legacy bytes mapped); an ID without a name is always a USER (bare BTC / ETH addresses).
 */
import { ProtocolError } from '../protocol-error.ts';
import { parseAddress } from './address.ts';
import type { Address } from './address.ts';
import { EntityType, isBroadcastType, isGroupType, isUserType, networkToType } from './entity-type.ts';

/** Longest ID string accepted (the dart compat layer accepts 128; we allow a terminal on top). */
export const MAX_ID_LENGTH = 192;
const NAME_RE = /^[^@/\s]{1,64}$/;
const TERMINAL_RE = /^[^@/\s]{1,64}$/;

export class ID {
  readonly name: string | undefined;
  readonly address: Address;
  readonly terminal: string | undefined;
  /** The canonical string form. */
  readonly string: string;
  /** Entity type after legacy mapping. */
  readonly type: number;

  constructor(name: string | undefined, address: Address, terminal?: string) {
    this.name = name === '' ? undefined : name;
    this.address = address;
    this.terminal = terminal === '' ? undefined : terminal;
    let text = this.name === undefined ? address.text : `${this.name}@${address.text}`;
    if (this.terminal !== undefined) text += `/${this.terminal}`;
    this.string = text;
    this.type = this.name === undefined ? EntityType.USER : networkToType(address.network);
  }

  get isUser(): boolean {
    return isUserType(this.type);
  }

  get isGroup(): boolean {
    return isGroupType(this.type);
  }

  get isBroadcast(): boolean {
    return isBroadcastType(this.type);
  }

  get isStation(): boolean {
    return this.type === EntityType.STATION;
  }

  get isBot(): boolean {
    return this.type === EntityType.BOT;
  }

  /** The ID without its terminal ("naked" ID): per-user data is keyed by this. */
  naked(): ID {
    return this.terminal === undefined ? this : internId(new ID(this.name, this.address));
  }

  withTerminal(terminal: string): ID {
    return internId(new ID(this.name, this.address, terminal));
  }

  /** Same entity: same name and address, terminal ignored. */
  isSameAs(other: ID): boolean {
    return this.address.text === other.address.text && this.name === other.name;
  }

  equals(other: ID): boolean {
    return this.string === other.string;
  }

  toString(): string {
    return this.string;
  }

  toJSON(): string {
    return this.string;
  }
}

const CACHE_LIMIT = 65536;
const cache = new Map<string, ID>();

function internId(id: ID): ID {
  const existing = cache.get(id.string);
  if (existing) return existing;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(id.string, id);
  return id;
}

/** Parse an ID string. Throws BAD_ID (or FIELD_TOO_LARGE). */
export function parseId(value: unknown): ID {
  if (typeof value !== 'string') throw new ProtocolError('BAD_ID', 'ID is not a string');
  const cached = cache.get(value);
  if (cached) return cached;
  if (value.length > MAX_ID_LENGTH) throw new ProtocolError('FIELD_TOO_LARGE', 'ID string too long');
  const slash = value.indexOf('/');
  const left = slash < 0 ? value : value.slice(0, slash);
  const terminal = slash < 0 ? undefined : value.slice(slash + 1);
  if (terminal !== undefined && !TERMINAL_RE.test(terminal))
    throw new ProtocolError('BAD_ID', 'invalid terminal');
  const at = left.lastIndexOf('@');
  const name = at < 0 ? undefined : left.slice(0, at);
  if (name !== undefined && !NAME_RE.test(name)) throw new ProtocolError('BAD_ID', 'invalid ID name');
  let address: Address;
  try {
    address = parseAddress(at < 0 ? left : left.slice(at + 1));
  } catch (cause) {
    throw new ProtocolError('BAD_ID', 'invalid ID address', { cause });
  }
  return internId(new ID(name, address, terminal));
}

/** Parse or return undefined (for optional fields). */
export function tryParseId(value: unknown): ID | undefined {
  try {
    return parseId(value);
  } catch {
    return undefined;
  }
}

export const ANYONE = parseId('anyone@anywhere');
export const EVERYONE = parseId('everyone@everywhere');
export const FOUNDER = parseId('moky@anywhere');
/** "Whatever station the client is connected to". */
export const ANY_STATION = parseId('station@anywhere');
/** All stations (neighbours). */
export const EVERY_STATION = parseId('stations@everywhere');
