import type { AgentMessage } from '../../../protocol/messages.ts';
import type { AppContext } from '../../context.ts';
import type { AgentConnection } from '../agent-connection.ts';
import { handleHeartbeat } from './heartbeat.ts';
import { handleInventory } from './inventory.ts';
import { handleResponse } from './response.ts';

/** One handler per message type an authenticated agent may send; anything else closes the connection. */
type Handlers = {
  [T in AgentMessage['type']]?: (ctx: AppContext, conn: AgentConnection, message: Extract<AgentMessage, { type: T }>) => Promise<void> | void;
};

export const agentMessageHandlers: Handlers = {
  heartbeat: handleHeartbeat,
  inventory: handleInventory,
  response: handleResponse,
};
