/**
 * Trust for messages another station relays (issue 12 §3; reference-station.md §8.1 fixed): a station
 * type ID proves nothing. A message whose sender is the relaying station itself is its own; a message of
 * another sender is taken unverified only from a station in the trusted list, and otherwise verified
 * against the ORIGINAL sender's keys (attached meta/visa accepted first, when valid). A relay that does
 * not verify is refused: FORGED_RELAY (bad signature) or RELAY_SENDER_UNKNOWN (no keys for the sender).
 */
import { attachedMeta, attachedVisa } from '../protocol/dkd/attachments.ts';
import { verifyMessage } from '../protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';

export type RelayVerdict = 'own' | 'trusted' | 'verified' | 'FORGED_RELAY' | 'RELAY_SENDER_UNKNOWN';

export async function checkRelayed(
  message: ReliableMessage,
  relayedBy: string,
  trusted: ReadonlySet<string>,
  directory: IdentityDirectory,
  now: number,
): Promise<RelayVerdict> {
  if (message.sender.naked().string === relayedBy) return 'own';
  if (trusted.has(relayedBy)) return 'trusted';
  try {
    const meta = attachedMeta(message) ?? (await directory.meta(message.sender));
    if (meta !== undefined && message.meta !== undefined) await directory.acceptMeta(message.sender, meta);
    if (meta !== undefined && message.visa !== undefined) {
      const visa = attachedVisa(message, meta);
      if (visa !== undefined) await directory.acceptDocument(visa, now / 1000, message.sender);
    }
  } catch {
    // an invalid attachment proves nothing; the signature check below decides
  }
  const keys = await directory.verifyKeys(message.sender);
  if (keys.length === 0) return 'RELAY_SENDER_UNKNOWN';
  return verifyMessage(message, keys) ? 'verified' : 'FORGED_RELAY';
}
