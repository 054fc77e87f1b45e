import type { CommandResponse } from '../../../protocol/messages.ts';
import type { AppContext } from '../../context.ts';
import type { AgentConnection } from '../agent-connection.ts';

export function handleResponse(_ctx: AppContext, conn: AgentConnection, message: CommandResponse): void {
  conn.settle(message.id, message.ok ? { ok: true, result: message.result } : { ok: false, error: message.error });
}
