import type { Heartbeat } from '../../../protocol/messages.ts';

/** Liveness is recorded for every inbound frame (AgentConnection.lastHeard); a heartbeat needs nothing more. */
export function handleHeartbeat(_ctx: unknown, _conn: unknown, _message: Heartbeat): void {}
