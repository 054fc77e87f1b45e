import type { Logger } from './log.ts';
import type { Inventory } from '../protocol/inventory.ts';

/** What command handlers and the connection loop need from the running agent. */
export interface AgentContext {
  log: Logger;
  collectInventory(): Promise<Inventory>;
}
