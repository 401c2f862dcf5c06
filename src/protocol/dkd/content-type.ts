/** Content types (core-py dimp/protocol/types.py) and their string aliases; accepted as int, numeric string or alias. */
export const ContentType = {
  ANY: 0x00,
  TEXT: 0x01,
  FILE: 0x10,
  IMAGE: 0x12,
  AUDIO: 0x14,
  VIDEO: 0x16,
  PAGE: 0x20,
  NAME_CARD: 0x33,
  QUOTE: 0x37,
  MONEY: 0x40,
  TRANSFER: 0x41,
  LUCKY_MONEY: 0x42,
  CLAIM_PAYMENT: 0x48,
  SPLIT_BILL: 0x49,
  COMMAND: 0x88,
  HISTORY: 0x89,
  APPLICATION: 0xa0,
  ARRAY: 0xca,
  CUSTOMIZED: 0xcc,
  COMBINE_FORWARD: 0xcf,
  FORWARD: 0xff,
} as const;

const ALIASES: Record<string, number> = {
  '*': ContentType.ANY,
  text: ContentType.TEXT,
  file: ContentType.FILE,
  image: ContentType.IMAGE,
  audio: ContentType.AUDIO,
  video: ContentType.VIDEO,
  page: ContentType.PAGE,
  card: ContentType.NAME_CARD,
  quote: ContentType.QUOTE,
  money: ContentType.MONEY,
  transfer: ContentType.TRANSFER,
  command: ContentType.COMMAND,
  history: ContentType.HISTORY,
  application: ContentType.APPLICATION,
  array: ContentType.ARRAY,
  customized: ContentType.CUSTOMIZED,
  combine: ContentType.COMBINE_FORWARD,
  forward: ContentType.FORWARD,
};

/**
 * Parse a content / envelope type: integer, decimal string ("136"), or alias ("command"). Returns undefined
 * when absent or unrecognizable (callers decide whether that is an error).
 */
export function parseContentType(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 0 && value <= 0xff ? value : undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 16) return undefined;
  if (/^\d+$/.test(value)) return parseContentType(Number(value));
  if (/^0x[0-9a-fA-F]{1,2}$/.test(value)) return Number.parseInt(value.slice(2), 16);
  // own properties only: "toString" / "constructor" must not resolve to Object.prototype members
  return Object.hasOwn(ALIASES, value) ? ALIASES[value] : undefined;
}
