/**
 * What the station itself says and reads: contents it sends are signed with its identity key and
 * encrypted to the receiver's visa key(s) in the compatible output form; messages addressed to it are
 * decrypted with its visa keys (with a per-sender cache of symmetric keys for senders that reuse them).
 */
import type { SymmetricKey } from '../protocol/crypto/symmetric-key.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { packMessage, openMessage } from '../protocol/dkd/message-packer.ts';
import type { OpenedMessage } from '../protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { ProtocolError } from '../protocol/protocol-error.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import type { StationIdentity } from './station-identity.ts';

const KEY_CACHE_LIMIT = 10_000;

export class StationMessenger {
  readonly identity: StationIdentity;
  readonly #directory: IdentityDirectory;
  readonly #now: () => number;
  readonly #keys = new Map<string, SymmetricKey>();

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
    return packMessage({
      sender: this.identity.id,
      receiver: to,
      content,
      time: this.#now(),
      signer: this.identity.identityKey,
      receiverKeys,
      attachments: attachIdentity
        ? { meta: this.identity.meta.toJSON(), visa: this.identity.visa.toJSON() }
        : undefined,
    });
  }

  /** Decrypt a message addressed to the station (verify it first). */
  open(message: ReliableMessage): OpenedMessage {
    const direction = message.sender.string;
    const opened = openMessage(message, {
      privateKeys: this.identity.decryptKeys,
      terminals: this.identity.visa.terminal === undefined ? [] : [this.identity.visa.terminal],
      cachedKey: this.#keys.get(direction),
    });
    if (opened.key.algorithm === 'AES') {
      if (this.#keys.size >= KEY_CACHE_LIMIT && !this.#keys.has(direction)) {
        const oldest = this.#keys.keys().next().value;
        if (oldest !== undefined) this.#keys.delete(oldest);
      }
      this.#keys.set(direction, opened.key);
    }
    return opened;
  }

  /** Whether `id` addresses this station (its ID, `station@anywhere`, `anyone@anywhere`). */
  isForStation(id: ID): boolean {
    return (
      id.isSameAs(this.identity.id) || id.string === 'station@anywhere' || id.string === 'anyone@anywhere'
    );
  }
}
