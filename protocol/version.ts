// A JSON import (not createRequire) so the bundled single-executable agent carries the version inside itself.
import packageJson from '../package.json' with { type: 'json' };

/** Version of the agent ⇄ server control protocol, carried as `v` in every JSON message. */
export const PROTOCOL_VERSION = 1 as const;

/** Largest WebSocket message either end accepts (bytes). Larger frames close the socket with 1009. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** WebSocket path of the agent gateway on the control server. */
export const AGENT_GATEWAY_PATH = '/api/v1/agent/connect';

/** WebSocket path where an agent attaches the link of one remote session (protocol/session-stream.ts). */
export const AGENT_SESSION_PATH = '/api/v1/agent/session';

/** The product version (package.json), reported by the agent and the server alike. */
export const STEWARD_VERSION: string = packageJson.version;
