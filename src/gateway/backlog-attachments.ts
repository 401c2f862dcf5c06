/**
 * Stored messages pushed from a backlog carry their sender's meta and visa the first time that sender
 * appears in the drain. A client reconnecting to collect what was stored for it often lacks the keys of
 * the people who wrote while it was away; its own meta/document queries may be dropped until its session
 * state settles (dimples), so without the attachments it cannot verify those messages and leaves them
 * unread. Attached outside the signature (the signature covers `data` only), appended after every field
 * of the stored text, so the message's own `signature` stays the first `"signature"` of the JSON text (the
 * WebSocket ACK heuristic of clients cuts the first one).
 */
import { parseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { Document } from '../protocol/mkm/document.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';

/** Drains remembered at once (a drain is one connection's backlog, over its pages). */
const MAX_DRAINS = 4096;
/** Senders remembered per drain; past this, every later page attaches again (harmless, rarer). */
const MAX_SENDERS_PER_DRAIN = 10_000;

export interface BacklogPage {
  readonly connId: string;
  /** The drain's `until`: the same for every page of one drain. */
  readonly until: number;
  readonly messages: ReadonlyArray<{ readonly msg: string }>;
}

/** The visa to attach for `sender`: the one of its terminal, else the newest. */
function pickVisa(sender: ID, visas: readonly Document[]): Document | undefined {
  let best: Document | undefined;
  for (const visa of visas) {
    if (sender.terminal !== undefined && visa.terminal === sender.terminal) return visa;
    if (best === undefined || visa.time > best.time) best = visa;
  }
  return best;
}

/** The sender ID of a stored message text (`sender`, or short key `F`), without parsing the whole text. */
function senderOf(json: string): string | undefined {
  const match = /"(?:sender|F)"\s*:\s*"([^"\\]{1,512})"/.exec(json);
  return match?.[1];
}

export class BacklogAttachments {
  readonly #directory: IdentityDirectory;
  /** Senders already attached, per drain (`connId until`), oldest drain first. */
  readonly #drains = new Map<string, Set<string>>();

  constructor(directory: IdentityDirectory) {
    this.#directory = directory;
  }

  /** The page's message texts, the first message of each sender new to the drain with meta and visa. */
  async attach(page: BacklogPage): Promise<string[]> {
    const key = `${page.connId} ${page.until}`;
    let seen = this.#drains.get(key);
    if (seen === undefined) {
      seen = new Set();
      this.#drains.set(key, seen);
      if (this.#drains.size > MAX_DRAINS) {
        const oldest = this.#drains.keys().next().value as string;
        this.#drains.delete(oldest);
      }
    }
    const out: string[] = [];
    for (const { msg: json } of page.messages) {
      const sender = senderOf(json);
      if (sender === undefined || seen.has(sender) || seen.size >= MAX_SENDERS_PER_DRAIN) {
        out.push(json);
        continue;
      }
      seen.add(sender);
      out.push(await this.#withIdentity(json, sender));
    }
    return out;
  }

  async #withIdentity(json: string, senderText: string): Promise<string> {
    let sender: ID;
    try {
      sender = parseId(senderText);
    } catch {
      return json;
    }
    const hasMeta = /"(?:meta|M)"\s*:/.test(json);
    const hasVisa = /"(?:visa|P)"\s*:/.test(json);
    if (hasMeta && hasVisa) return json;
    const [meta, visas] = await Promise.all([
      hasMeta ? undefined : this.#directory.meta(sender),
      hasVisa ? [] : this.#directory.visas(sender),
    ]);
    const visa = hasVisa ? undefined : pickVisa(sender, visas);
    let extra = '';
    if (meta !== undefined) extra += `,"meta":${JSON.stringify(meta.toJSON())}`;
    if (visa !== undefined) extra += `,"visa":${JSON.stringify(visa.toJSON())}`;
    if (extra === '' || !json.endsWith('}')) return json;
    return `${json.slice(0, -1)}${extra}}`;
  }

  /** Forget a connection's drains (it closed). */
  forget(connId: string): void {
    for (const key of this.#drains.keys()) if (key.startsWith(`${connId} `)) this.#drains.delete(key);
  }
}
