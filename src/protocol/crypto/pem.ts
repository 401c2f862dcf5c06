/**
 * Lenient PEM reading. DIM keys arrive as PEM with any label (`PUBLIC KEY` over a PKCS#1 body,
 * `RSA PUBLIC KEY`, `EC PUBLIC KEY` over SPKI…), CRLF or LF, wrapped at any column, JSON-escaped `\/`,
 * sometimes several blocks in one string (public + private), sometimes a bare base64 body.
 */
import { ProtocolError } from '../protocol-error.ts';
import { base64Decode, base64Encode } from './encoding.ts';

export interface PemBlock {
  /** The armor label (`PUBLIC KEY`, `RSA PRIVATE KEY`…), or '' for a bare body. */
  readonly label: string;
  readonly der: Uint8Array;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function parsePemBlocks(text: string): PemBlock[] {
  const source = text.includes('\\/') ? text.replaceAll('\\/', '/') : text;
  const blocks: PemBlock[] = [];
  for (const match of source.matchAll(BLOCK_RE)) {
    blocks.push({ label: match[1] ?? '', der: decodeBody(match[2] ?? '') });
  }
  if (blocks.length > 0) return blocks;
  if (source.includes('-----')) throw new ProtocolError('BAD_PEM', 'unterminated or malformed PEM armor');
  return [{ label: '', der: decodeBody(source) }];
}

function decodeBody(body: string): Uint8Array {
  // Some encoders put headers such as "Proc-Type:" inside the armor; none of ours do, so reject them.
  let der: Uint8Array;
  try {
    der = base64Decode(body);
  } catch (cause) {
    throw new ProtocolError('BAD_PEM', 'PEM body is not base64', { cause });
  }
  if (der.length === 0) throw new ProtocolError('BAD_PEM', 'empty PEM body');
  return der;
}

/** Pick the first block whose label satisfies `accept` (a bare body is accepted by every caller). */
export function findPemBlock(text: string, accept: (label: string) => boolean): PemBlock {
  const block = parsePemBlocks(text).find((b) => b.label === '' || accept(b.label));
  if (!block) throw new ProtocolError('BAD_PEM', 'no PEM block with an acceptable label');
  return block;
}

export function encodePem(label: string, der: Uint8Array): string {
  const body = base64Encode(der).replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
}
