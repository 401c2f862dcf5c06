/**
 * The notification a device gets for a batch of messages: title by content kind, localised body naming
 * receiver, sender and group (names from visas and bulletins, language from the receiver's visa), badge,
 * a collapse / thread ID per conversation, and the count when several messages coalesced. Pure.
 */
import { ContentType } from '../protocol/dkd/content-type.ts';
import { DEFAULT_LANGUAGE, TEMPLATES } from './notification-templates.ts';
import type { ContentKind, LanguageTemplates } from './notification-templates.ts';
import type { PendingItem } from './push-state.ts';

export interface Notification {
  readonly title: string;
  readonly body: string;
  readonly badge: number;
  /** Messages this notification stands for (coalesced). */
  readonly count: number;
  /** One per conversation (sender, or group): APNs collapse ID / thread ID, FCM collapse key / tag. */
  readonly conversation: string;
  /** Naked sender ID string (of the last message) and group ID string, for the app to open the chat. */
  readonly sender: string;
  readonly group?: string | undefined;
  /** Sender's avatar URL from the visa, if any. */
  readonly image?: string | undefined;
  /** Time of the newest message (ms). */
  readonly time: number;
}

export interface Names {
  /** Display name of an ID string (visa or bulletin `name`), or undefined to use the ID's name part. */
  readonly nameOf: (id: string) => string | undefined;
  readonly language: string | undefined;
  readonly avatarOf?: (id: string) => string | undefined;
}

export function contentKind(type: number | undefined): ContentKind {
  switch (type) {
    case ContentType.TEXT:
      return 'text';
    case ContentType.FILE:
      return 'file';
    case ContentType.IMAGE:
      return 'image';
    case ContentType.AUDIO:
      return 'voice';
    case ContentType.VIDEO:
      return 'video';
    case ContentType.PAGE:
      return 'page';
    case ContentType.NAME_CARD:
      return 'card';
    case ContentType.MONEY:
    case ContentType.TRANSFER:
    case ContentType.LUCKY_MONEY:
      return 'money';
    default:
      return 'message';
  }
}

/** The templates for a visa's `app.language` / `sys.locale` (`zh_CN`, `pt-BR`, `en`…), English otherwise. */
export function templatesFor(language: string | undefined): LanguageTemplates {
  const code = (language ?? '').toLowerCase().split(/[-_]/)[0] ?? '';
  return TEMPLATES[code] ?? (TEMPLATES[DEFAULT_LANGUAGE] as LanguageTemplates);
}

function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** `name@address` → `name`, else the address head. */
export function fallbackName(id: string): string {
  const at = id.indexOf('@');
  if (at > 0) return id.slice(0, at);
  return id.slice(0, 12);
}

function conversationOf(item: PendingItem): string {
  return item.group ?? item.sender;
}

/**
 * The notification for `items` (oldest first) to `receiver`; `items` must not be empty. Several
 * conversations make a "you have N new messages" notification.
 */
export function buildNotification(
  receiver: string,
  items: readonly PendingItem[],
  badge: number,
  names: Names,
): Notification {
  const last = items[items.length - 1];
  if (last === undefined) throw new RangeError('a notification needs at least one message');
  const t = templatesFor(names.language);
  const name = (id: string): string => names.nameOf(id) ?? fallbackName(id);
  const values: Record<string, string> = {
    receiver: name(receiver),
    sender: name(last.sender),
    group: last.group === undefined ? '' : name(last.group),
    count: String(items.length),
    what: t.what[contentKind(last.type)],
  };
  const conversations = new Set(items.map(conversationOf));
  const senders = new Set(items.map((i) => i.sender));
  let title: string;
  let body: string;
  if (items.length === 1) {
    title = t.titles[contentKind(last.type)];
    body = fill(last.group === undefined ? t.single : t.group, values);
  } else {
    title = fill(t.titleMany, values);
    if (conversations.size > 1 || senders.size > 1) body = fill(t.manySenders, values);
    else body = fill(last.group === undefined ? t.many : t.manyGroup, values);
  }
  return {
    title,
    body,
    badge: Math.max(badge, items.length),
    count: items.length,
    conversation: conversations.size === 1 ? conversationOf(last) : receiver,
    sender: last.sender,
    group: last.group,
    image: names.avatarOf?.(last.sender),
    time: last.time,
  };
}
