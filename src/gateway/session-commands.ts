/**
 * The session commands a gateway answers itself, because they change the connection's own state:
 * `login` (the device's terminal, active) and `report` (`online` / `offline`). Everything else a client
 * says to the station is the dispatcher's.
 */
import type { Content } from '../protocol/dkd/content.ts';
import { parseLogin } from '../protocol/dkd/login-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { parseReport } from '../protocol/dkd/report-command.ts';
import type { ID } from '../protocol/mkm/identifier.ts';

/** What the session exposes to its command handlers. */
export interface CommandHost {
  readonly stationId: ID;
  readonly terminal: string;
  isForStation(id: ID): boolean;
  /** The device declared its terminal: deliveries and stored-copy state follow it from now on. */
  declareTerminal(terminal: string): void;
  setActive(active: boolean): void;
  sendReceipt(message: ReliableMessage, text: string, options: ReceiptOptions): void;
}

export type HandledCommand = 'login' | 'report';

/** Apply `login` / `report` to the session and answer them; returns what was handled, if anything. */
export function handleSessionCommand(
  host: CommandHost,
  message: ReliableMessage,
  content: Content,
): HandledCommand | undefined {
  const login = parseLogin(content);
  if (login !== undefined) {
    if (!login.id.isSameAs(message.sender)) return undefined;
    const station = login.station?.id;
    if (station !== undefined && !station.isSameAs(host.stationId)) {
      return 'login'; // roaming to another station: recorded by the dispatcher, no reply
    }
    if (
      login.terminal !== undefined &&
      login.terminal !== host.terminal &&
      message.sender.terminal === undefined
    ) {
      host.declareTerminal(login.terminal);
    }
    host.setActive(true);
    host.sendReceipt(message, 'Login received.', {
      content,
      template: 'Login command received: ${did}.',
      replacements: { did: login.id.string },
    });
    return 'login';
  }
  const report = parseReport(content);
  if (report === undefined) return undefined;
  if (report.title === 'online') {
    host.setActive(true);
    host.sendReceipt(message, 'Online received.', { content });
    return 'report';
  }
  if (report.title === 'offline') {
    host.setActive(false);
    return 'report';
  }
  // device-token reports (apns / c2dm) are answered by the dispatcher's station commands
  if (report.title === 'apns' || report.title === 'c2dm') return undefined;
  if (host.isForStation(message.receiver)) {
    host.sendReceipt(message, 'Command not support.', {
      content,
      template: 'Report command (title: ${title}) not support yet!',
      replacements: { title: report.title },
    });
    return 'report';
  }
  return undefined;
}
