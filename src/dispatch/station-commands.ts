/**
 * The commands a station answers itself (reference-station.md §5): meta and documents (query and save,
 * legacy forms included, the login-message extra), ans, block, mute, receipts (accepted silently), FORWARD
 * and ARRAY wrappers, and "not support" receipts with template/replacements for everything else.
 * Session commands (handshake, login, report) are answered by the gateway; here a login is only recorded.
 */
import type { Content } from '../protocol/dkd/content.ts';
import { parseContent } from '../protocol/dkd/content.ts';
import { ContentType } from '../protocol/dkd/content-type.ts';
import {
  buildDocumentsResponse,
  buildMetaResponse,
  parseDocumentsCommand,
  parseMetaCommand,
} from '../protocol/dkd/document-commands.ts';
import { parseLogin } from '../protocol/dkd/login-command.ts';
import { parseReport } from '../protocol/dkd/report-command.ts';
import type { DeviceRegistrar } from '../push/device-registrar.ts';
import { DeviceTokenError, isDeviceTokenTitle } from '../push/device-token.ts';
import { buildReceipt } from '../protocol/dkd/receipt-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import {
  buildAnsResponse,
  buildForward,
  buildListCommand,
  parseAnsNames,
  parseArray,
  parseForward,
  parseListCommand,
} from '../protocol/dkd/service-commands.ts';
import { parseDocument } from '../protocol/mkm/document.ts';
import type { Document } from '../protocol/mkm/document.ts';
import { parseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { parseMeta } from '../protocol/mkm/meta.ts';
import { isProtocolError } from '../protocol/protocol-error.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';

/** A content the station sends back, signed and encrypted to `to` by the caller. */
export interface StationReply {
  readonly to: ID;
  readonly content: Record<string, unknown>;
}

export interface StationCommandDeps {
  readonly stationId: ID;
  readonly directory: IdentityDirectory;
  readonly accounts: AccountStore;
  /** ANS records: name → ID string (configured bots), merged over the built-ins. */
  readonly ans: Readonly<Record<string, string>>;
  /** Push: device-token reports and badge resets (report online, login). */
  readonly push?: DeviceRegistrar | undefined;
  /** Process a reliable message found inside a FORWARD addressed to the station. */
  readonly processInner?: (message: unknown) => Promise<StationReply[]>;
}

/** Sends a receipt about the request being processed (no-op towards stations). */
type Receipt = (text: string, options?: Omit<ReceiptOptions, 'content'>) => void;

const BUILTIN_ANS: Readonly<Record<string, string>> = {
  all: 'everyone@everywhere',
  everyone: 'everyone@everywhere',
  anyone: 'anyone@anywhere',
  owner: 'anyone@anywhere',
  founder: 'moky@anywhere',
};

export class StationCommands {
  readonly #deps: StationCommandDeps;
  readonly #ans: Readonly<Record<string, string>>;

  constructor(deps: StationCommandDeps) {
    this.#deps = deps;
    this.#ans = { ...BUILTIN_ANS, ...deps.ans };
  }

  /** Resolve an ANS name (`archivist`) to an ID string. */
  resolveName(name: string): string | undefined {
    return Object.hasOwn(this.#ans, name) ? this.#ans[name] : undefined;
  }

  /**
   * Process `content` carried by `message` (addressed to the station, or a broadcast the station also
   * processes). `now` in seconds. Returns the replies to send; never throws for bad client input.
   */
  async process(message: ReliableMessage, content: Content, now: number): Promise<StationReply[]> {
    const sender = message.sender;
    const replies: StationReply[] = [];
    const receipt: Receipt = (text, options = {}) => {
      // Stations do not answer other stations with receipts (they would bounce forever).
      if (sender.isStation) return;
      replies.push({ to: sender, content: buildReceipt(text, message, now, { ...options, content }) });
    };
    const command = content.command;
    try {
      if (content.type === ContentType.FORWARD) return await this.#forward(content);
      if (content.type === ContentType.ARRAY) {
        for (const inner of parseArray(content) ?? []) {
          replies.push(...(await this.process(message, parseContent(inner), now)));
        }
        return replies;
      }
      if (command === 'receipt') return replies;
      if (command === 'handshake') return replies; // answered by the gateway
      const report = parseReport(content);
      if (report !== undefined) {
        // online / offline are answered by the gateway; device tokens here
        if (isDeviceTokenTitle(report.title)) await this.#deviceToken(message, content, now, receipt);
        else if (report.title === 'online') await this.#deps.push?.resetBadge(sender);
        return replies;
      }
      if (command === 'login') {
        await this.#login(message, content);
        return replies;
      }
      const meta = parseMetaCommand(content);
      if (meta !== undefined) {
        await this.#meta(meta.id, meta.meta, sender, now, replies, receipt);
        return replies;
      }
      const docs = parseDocumentsCommand(content);
      if (docs !== undefined) {
        if (docs.documents === undefined)
          await this.#queryDocuments(docs.id, docs.lastTime, sender, now, replies, receipt);
        else await this.#saveDocuments(docs.id, docs.meta, docs.documents, now, receipt);
        return replies;
      }
      const names = parseAnsNames(content);
      if (names !== undefined) {
        if (names.length === 0) {
          receipt('ANS command error.');
          return replies;
        }
        const records: Record<string, string> = {};
        for (const name of names) {
          const id = this.resolveName(name);
          if (id !== undefined) records[name] = id;
        }
        replies.push({ to: sender, content: buildAnsResponse(names, records, now) });
        return replies;
      }
      const list = parseListCommand(content);
      if (list !== undefined) {
        const title = list.name === 'block' ? 'Block' : 'Mute';
        if (list.list === undefined) {
          const stored = (await this.#deps.accounts.getList(sender, list.name)) ?? [];
          replies.push({
            to: sender,
            content: buildListCommand(
              list.name,
              stored.map((s) => parseId(s)),
              now,
            ),
          });
        } else {
          const changed = await this.#deps.accounts.putList(
            sender,
            list.name,
            list.list.map((id) => id.string),
          );
          receipt(changed ? `${title} received.` : `${title} not changed.`);
        }
        return replies;
      }
      if (command !== undefined) {
        receipt('Command not support.', {
          template: 'Command (name: ${command}) not support yet!',
          replacements: { command },
        });
      } else {
        receipt('Content not support.', {
          template: 'Content (type: ${type}) not support yet!',
          replacements: { type: content.type },
        });
      }
      return replies;
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      receipt('Command error.', {
        template: 'Command error: ${code}.',
        replacements: { code: err.code },
        extra: { error: { code: err.code } },
      });
      return replies;
    }
  }

  async #deviceToken(
    message: ReliableMessage,
    content: Content,
    now: number,
    receipt: Receipt,
  ): Promise<void> {
    const push = this.#deps.push;
    if (push === undefined || message.sender.isStation) {
      receipt('Command not support.', {
        template: 'Report command (title: ${title}) not support yet!',
        replacements: { title: String(content.dict['title']) },
      });
      return;
    }
    try {
      await push.registerDevice(message.sender, content, Math.round(now * 1000));
    } catch (err) {
      if (!(err instanceof DeviceTokenError)) throw err;
      receipt('Device token not accepted.', {
        template: 'Device token not accepted: ${reason}.',
        replacements: { reason: err.message },
        extra: { error: { code: err.code } },
      });
      return;
    }
    receipt('Device token received.');
  }

  async #login(message: ReliableMessage, content: Content): Promise<void> {
    const login = parseLogin(content);
    if (login === undefined || !login.id.isSameAs(message.sender)) return;
    await this.#deps.push?.resetBadge(message.sender);
    await this.#deps.accounts.putLogin(login.id, {
      time: login.time ?? message.time ?? 0,
      terminal: login.terminal,
      station: login.station?.id?.naked().string,
      message: message.dict,
    });
  }

  async #meta(
    id: ID,
    rawMeta: unknown,
    sender: ID,
    now: number,
    replies: StationReply[],
    receipt: Receipt,
  ): Promise<void> {
    const replacements = { did: id.string };
    if (rawMeta === undefined) {
      const meta = await this.#deps.directory.meta(id);
      if (meta) replies.push({ to: sender, content: buildMetaResponse(id, meta, now) });
      else receipt('Meta not found.', { template: 'Meta not found: ${did}.', replacements });
      return;
    }
    let verdict: string;
    try {
      verdict = await this.#deps.directory.acceptMeta(id, parseMeta(rawMeta));
    } catch {
      verdict = 'invalid';
    }
    if (verdict === 'saved' || verdict === 'exists') {
      receipt('Meta received.', { template: 'Meta received: ${did}.', replacements });
    } else if (verdict === 'invalid') {
      receipt('Meta not valid.', { template: 'Meta not valid: ${did}.', replacements });
    } else {
      receipt('Meta not accepted.', { template: 'Meta not accepted: ${did}.', replacements });
    }
  }

  async #queryDocuments(
    id: ID,
    lastTime: number | undefined,
    sender: ID,
    now: number,
    replies: StationReply[],
    receipt: Receipt,
  ): Promise<void> {
    const replacements = { did: id.string };
    const documents = (await this.#deps.directory.documents(id)).sort((a, b) => a.time - b.time);
    if (documents.length === 0) {
      receipt('Document not found.', { template: 'Document not found: ${did}.', replacements });
      return;
    }
    const newest = (documents[documents.length - 1] as Document).time;
    if (lastTime !== undefined && newest <= lastTime) {
      receipt('Document not updated.', {
        template: 'Document not updated: ${did}, last time: ${time}.',
        replacements: { did: id.string, time: lastTime },
      });
      return;
    }
    const meta = await this.#deps.directory.meta(id);
    replies.push({ to: sender, content: buildDocumentsResponse(id, meta, documents, now) });
    // Roaming discovery: the user's last login message, except to bots and to the station itself; to
    // another station only when the user logged in here.
    if (sender.isBot || sender.isSameAs(this.#deps.stationId)) return;
    const logins = await this.#deps.accounts.getLogins(id);
    const here = this.#deps.stationId.naked().string;
    const relevant = sender.isStation ? logins.filter((l) => l.station === here) : logins;
    const latest = relevant[0];
    if (latest !== undefined) replies.push({ to: sender, content: buildForward([latest.message], now) });
  }

  async #saveDocuments(
    id: ID,
    rawMeta: unknown,
    rawDocuments: readonly unknown[],
    now: number,
    receipt: Receipt,
  ): Promise<void> {
    const replacements = { did: id.string };
    if (rawMeta !== undefined) {
      try {
        await this.#deps.directory.acceptMeta(id, parseMeta(rawMeta));
      } catch {
        receipt('Meta not valid.', { template: 'Meta not valid: ${did}.', replacements });
        return;
      }
    }
    for (const raw of rawDocuments) {
      let doc: Document;
      try {
        doc = parseDocument(raw);
      } catch {
        receipt('Document not accepted.', { template: 'Document not accepted: ${did}.', replacements });
        continue;
      }
      if (!doc.id.isSameAs(id)) {
        receipt('Document ID not match.', {
          template: 'Document ID not match: ${did}.',
          replacements: { did: doc.id.string },
        });
        continue;
      }
      const verdict = await this.#deps.directory.acceptDocument(doc, now, id);
      if (verdict === 'saved')
        receipt('Document received.', { template: 'Document received: ${did}.', replacements });
      else if (verdict === 'not-changed') {
        receipt('Document not changed.', { template: 'Document not changed: ${did}.', replacements });
      } else if (verdict === 'meta-not-found') {
        receipt('Meta not found.', { template: 'Meta not found: ${did}.', replacements });
      } else {
        receipt('Document not accepted.', { template: 'Document not accepted: ${did}.', replacements });
      }
    }
  }

  async #forward(content: Content): Promise<StationReply[]> {
    const inner = parseForward(content) ?? [];
    const replies: StationReply[] = [];
    if (!this.#deps.processInner) return replies;
    for (const message of inner) replies.push(...(await this.#deps.processInner(message)));
    return replies;
  }
}
