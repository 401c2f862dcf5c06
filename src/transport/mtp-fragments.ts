/**
 * Reassembly of MTP message fragments (data type 0xA: pages + index in a 20/24-byte header) into one
 * message body. Pure and I/O-free. Fragments of one message share its sn; they may arrive in any order
 * and repeat. Anything that cannot be reassembled safely is refused with MTP_FRAGMENT_REFUSED: an index
 * outside the page count, a page count that changes, too many pages, too many bytes (the assembled body
 * obeys the frame limit), or too many messages in assembly at once.
 */
import { TransportError } from './transport-error.ts';

export interface FragmentLimits {
  /** Largest assembled body (the frame limit). */
  readonly maxBodyLength: number;
  /** Most pages of one message. Default 1024. */
  readonly maxPages?: number;
  /** Messages in assembly at once per connection. Default 4. */
  readonly maxAssemblies?: number;
}

interface Assembly {
  readonly pages: number;
  readonly parts: Array<Buffer | undefined>;
  received: number;
  bytes: number;
}

export type FragmentResult =
  /** More pages are missing. */
  | { readonly status: 'partial' }
  /** Every page arrived: the message body. */
  | { readonly status: 'complete'; readonly body: Buffer };

export class FragmentAssembler {
  readonly #limits: Required<FragmentLimits>;
  readonly #assemblies = new Map<string, Assembly>();

  constructor(limits: FragmentLimits) {
    this.#limits = { maxPages: 1024, maxAssemblies: 4, ...limits };
  }

  /** Messages in assembly. */
  get pending(): number {
    return this.#assemblies.size;
  }

  /** Add one fragment; throws TransportError MTP_FRAGMENT_REFUSED when it cannot be reassembled. */
  add(sn: Buffer, pages: number, index: number, body: Buffer): FragmentResult {
    const refuse = (why: string): never => {
      this.#assemblies.delete(sn.toString('hex'));
      throw new TransportError('MTP_FRAGMENT_REFUSED', why);
    };
    if (pages < 1 || pages > this.#limits.maxPages) refuse(`fragment with ${pages} pages`);
    if (index >= pages) refuse(`fragment index ${index} of ${pages} pages`);
    const key = sn.toString('hex');
    let assembly = this.#assemblies.get(key);
    if (assembly === undefined) {
      if (pages === 1) return this.#check(body);
      if (this.#assemblies.size >= this.#limits.maxAssemblies)
        refuse(`more than ${this.#limits.maxAssemblies} fragmented messages in assembly`);
      assembly = { pages, parts: new Array<Buffer | undefined>(pages), received: 0, bytes: 0 };
      this.#assemblies.set(key, assembly);
    }
    if (assembly.pages !== pages) refuse(`page count changed from ${assembly.pages} to ${pages}`);
    if (assembly.parts[index] !== undefined) return { status: 'partial' }; // a repeat
    assembly.bytes += body.length;
    if (assembly.bytes > this.#limits.maxBodyLength)
      refuse(`fragmented message over ${this.#limits.maxBodyLength} bytes`);
    assembly.parts[index] = Buffer.from(body);
    assembly.received += 1;
    if (assembly.received < assembly.pages) return { status: 'partial' };
    this.#assemblies.delete(key);
    return { status: 'complete', body: Buffer.concat(assembly.parts as Buffer[]) };
  }

  #check(body: Buffer): FragmentResult {
    if (body.length > this.#limits.maxBodyLength)
      throw new TransportError('MTP_FRAGMENT_REFUSED', 'fragment over the frame limit');
    return { status: 'complete', body };
  }

  clear(): void {
    this.#assemblies.clear();
  }
}
