/**
 * Entity types (mkm EntityType) and the legacy "MKM 0.9" network bytes still found in live addresses.
 * The raw byte is kept for address regeneration; the mapped type drives every user/group/broadcast test.
 */
export const EntityType = {
  USER: 0x00,
  GROUP: 0x01,
  STATION: 0x02,
  ISP: 0x03,
  BOT: 0x04,
  ICP: 0x05,
  ANY: 0x80,
  EVERY: 0x81,
} as const;

const LEGACY_NETWORK: ReadonlyMap<number, number> = new Map([
  [0x08, EntityType.USER], // MAIN (person)
  [0x10, EntityType.GROUP], // GROUP / POLYLOGUE
  [0x30, 0x31], // CHATROOM
  [0x76, EntityType.ISP], // PROVIDER
  [0x88, EntityType.STATION], // STATION
  [0xc8, EntityType.BOT], // BOT
]);

/** Map a raw address network byte to its entity type (legacy bytes mapped, others unchanged). */
export function networkToType(network: number): number {
  return LEGACY_NETWORK.get(network) ?? network;
}

export function isUserType(type: number): boolean {
  return (type & 0x01) === 0;
}

export function isGroupType(type: number): boolean {
  return (type & 0x01) === 1;
}

export function isBroadcastType(type: number): boolean {
  return (type & 0x80) === 0x80;
}
