/**
 * What the station itself says and reads: contents it sends are signed with its identity key and
 * encrypted to the receiver's visa key(s) in the compatible output form; messages addressed to it are
 * decrypted with its visa keys (with a per-sender cache of symmetric keys for senders that reuse them).
 *
 * Replies reuse one message key per receiver, encrypted to the receiver's keys once (as clients reuse
 * theirs per conversation): a receipt then costs one signature and one AES encryption instead of also a
 * fresh key and an RSA encryption per receiver key. The key is renewed after an hour, after 10,000
 * messages, or as soon as the receiver's keys change (new visa).
 */
import type { SymmetricKey } from '../protocol/crypto/symmetric-key.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { AesKey } from '../protocol/crypto/symmetric-key.ts';
import { packMessage, openMessage, sealSymmetricKey } from '../protocol/dkd/message-packer.ts';
import type { OpenedMessage, ReceiverKey, SealedKey } from '../protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { ProtocolError } from '../protocol/protocol-error.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import type { StationIdentity } from './station-identity.ts';

const KEY_CACHE_LIMIT = 10_000;

/** How long (seconds) and for how many messages a reply key is reused for one receiver. */
export const REPLY_KEY_LIFETIME_S = 3600;
export const REPLY_KEY_MAX_USES = 10_000;

interface ReplyKey {
  readonly sealed: SealedKey;
  readonly receiverKeys: readonly ReceiverKey[];
  readonly expiresAt: number;
  uses: number;
}

function sameKeys(a: readonly ReceiverKey[], b: readonly ReceiverKey[]): boolean {
  return (
    a.length === b.length &&
    a.every((k, i) => {
      const other = b[i] as ReceiverKey;
      return k.terminal === other.terminal && (k.key === other.key || k.key.equals(other.key));
    })
  );
}

/** Insert into a Map used as an LRU of at most `limit` entries (re-inserting moves a key to the end). */
function remember<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  if (map.size >= limit) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}

export class StationMessenger {
  readonly identity: StationIdentity;
  readonly #directory: IdentityDirectory;
  readonly #now: () => number;
  readonly #keys = new Map<string, SymmetricKey>();
  readonly #replyKeys = new Map<string, ReplyKey>();

  /** `now` returns seconds since the epoch. */
  constructor(identity: StationIdentity, directory: IdentityDirectory, now: () => number) {
    this.identity = identity;
    this.#directory = directory;
    this.#now = now;
  }

  /**
   * Sign and encrypt `content` for `to`. `attachIdentity` adds the station's meta and visa (first reply to
   * a request addressed to station@anywhere). Throws NO_KEY_FOR_RECEIVER when no key of `to` is known.
   */
  async pack(to: ID, content: Record<string, unknown>, attachIdentity = false): Promise<ReliableMessage> {
    const receiverKeys = to.isBroadcast ? [] : await this.#directory.encryptKeys(to);
    if (!to.isBroadcast && receiverKeys.length === 0) {
      throw new ProtocolError('NO_KEY_FOR_RECEIVER', 'no visa or meta key to encrypt for the receiver');
    }
    const time = this.#now();
    return packMessage({
      sender: this.identity.id,
      receiver: to,
      content,
      time,
      signer: this.identity.identityKey,
      sealedKey: to.isBroadcast ? undefined : this.#replyKey(to, receiverKeys, time),
      attachments: attachIdentity
        ? { meta: this.identity.meta.toJSON(), visa: this.identity.visa.toJSON() }
        : undefined,
    });
  }

  #replyKey(to: ID, receiverKeys: readonly ReceiverKey[], now: number): SealedKey {
    const cached = this.#replyKeys.get(to.string);
    if (
      cached !== undefined &&
      cached.expiresAt > now &&
      cached.uses < REPLY_KEY_MAX_USES &&
      sameKeys(cached.receiverKeys, receiverKeys)
    ) {
      cached.uses++;
      return cached.sealed;
    }
    const sealed = sealSymmetricKey(to, receiverKeys, AesKey.generate());
    const entry = { sealed, receiverKeys, expiresAt: now + REPLY_KEY_LIFETIME_S, uses: 1 };
    remember(this.#replyKeys, to.string, entry, KEY_CACHE_LIMIT);
    return sealed;
  }

  /** Decrypt a message addressed to the station (verify it first). */
  open(message: ReliableMessage): OpenedMessage {
    const direction = message.sender.string;
    const opened = openMessage(message, {
      privateKeys: this.identity.decryptKeys,
      terminals: this.identity.visa.terminal === undefined ? [] : [this.identity.visa.terminal],
      cachedKey: this.#keys.get(direction),
    });
    if (opened.key.algorithm === 'AES' && this.#keys.get(direction) !== opened.key)
      remember(this.#keys, direction, opened.key, KEY_CACHE_LIMIT);
    return opened;
  }

  /** Whether `id` addresses this station (its ID, `station@anywhere`, `anyone@anywhere`). */
  isForStation(id: ID): boolean {
    return (
      id.isSameAs(this.identity.id) || id.string === 'station@anywhere' || id.string === 'anyone@anywhere'
    );
  }
}
