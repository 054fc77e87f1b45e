import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CommandErrorCode } from './commands.ts';
import { InventorySchema } from './inventory.ts';
import { compile, SchemaError } from './validate.ts';
import { PROTOCOL_VERSION } from './version.ts';

/**
 * Every JSON control message on the agent connection, discriminated by `type`, each carrying the protocol version
 * `v`. Handshake order (each side refuses anything else until it completes):
 *
 *   server → challenge     {serverNonce, serverKey}
 *   agent  → hello         {agentNonce, agentKey, mode: enroll | connect, machineId?}
 *   server → server_proof  {signature over the transcript}           — the agent checks the server key it pinned
 *   agent  → agent_proof   {signature, enrollmentToken? (enroll only)} — only after the server proved itself
 *   server → welcome       {machineId, heartbeatSeconds, inventoryHash}
 *
 * then heartbeats both ways, inventory reports, and command requests/responses.
 */
const B64 = (bytes: number) => Type.String({ maxLength: Math.ceil(bytes / 3) * 4, minLength: 1 });
const Id = Type.String({ format: 'uuid', maxLength: 36 });

export function message<T extends string, P extends Record<string, TSchema>>(type: T, props: P) {
  return Type.Object(
    { type: Type.Literal(type), v: Type.Literal(PROTOCOL_VERSION), ...props },
    { additionalProperties: false },
  );
}

export const Challenge = message('challenge', { serverNonce: B64(32), serverKey: B64(32) });
export const Hello = message('hello', {
  agentNonce: B64(32),
  agentKey: B64(32),
  mode: Type.Union([Type.Literal('enroll'), Type.Literal('connect')]),
  machineId: Type.Optional(Id),
  agentVersion: Type.String({ maxLength: 64 }),
});
export const ServerProof = message('server_proof', { signature: B64(64) });
export const AgentProof = message('agent_proof', {
  signature: B64(64),
  enrollmentToken: Type.Optional(Type.String({ maxLength: 200 })),
});
export const Welcome = message('welcome', {
  machineId: Id,
  heartbeatSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
  inventoryHash: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
});
export const Heartbeat = message('heartbeat', { at: Type.String({ maxLength: 40 }) });
export const InventoryReport = message('inventory', { hash: Type.String({ maxLength: 64 }), inventory: InventorySchema });
/**
 * The envelope accepts any command name: an older agent answers a newer server's command with `unknown_command`
 * instead of dropping the connection. The agent validates params against protocol/commands.ts itself.
 */
export const CommandRequest = message('request', {
  id: Type.Integer({ minimum: 1 }),
  timeoutMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }),
  command: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), params: Type.Unknown() }, { additionalProperties: false }),
});
export const CommandResponse = Type.Union([
  message('response', { id: Type.Integer({ minimum: 1 }), ok: Type.Literal(true), result: Type.Unknown() }),
  message('response', {
    id: Type.Integer({ minimum: 1 }),
    ok: Type.Literal(false),
    error: Type.Object({ code: CommandErrorCode, message: Type.String({ maxLength: 2048 }) }),
  }),
]);

/** What the server may send to an agent. */
export const ServerMessage = Type.Union([Challenge, ServerProof, Welcome, Heartbeat, CommandRequest]);
/** What an agent may send to the server. */
export const AgentMessage = Type.Union([Hello, AgentProof, Heartbeat, InventoryReport, CommandResponse]);

export type Challenge = Static<typeof Challenge>;
export type Hello = Static<typeof Hello>;
export type ServerProof = Static<typeof ServerProof>;
export type AgentProof = Static<typeof AgentProof>;
export type Welcome = Static<typeof Welcome>;
export type Heartbeat = Static<typeof Heartbeat>;
export type InventoryReport = Static<typeof InventoryReport>;
export type CommandRequest = Static<typeof CommandRequest>;
export type CommandResponse = Static<typeof CommandResponse>;
export type ServerMessage = Static<typeof ServerMessage>;
export type AgentMessage = Static<typeof AgentMessage>;

/** One compiled validator per message type, so an error names the field that was wrong, not "a union". */
export function validatorsByType(members: TSchema[]): Map<string, (value: unknown) => unknown> {
  const byType = new Map<string, TSchema[]>();
  for (const member of members.flatMap((m) => (m.anyOf as TSchema[] | undefined) ?? [m])) {
    const type = (member.properties as Record<string, { const: string }>).type.const;
    byType.set(type, [...(byType.get(type) ?? []), member]);
  }
  return new Map([...byType].map(([type, schemas]) => [type, compile(schemas.length === 1 ? schemas[0] : Type.Union(schemas)).parse]));
}

const serverValidators = validatorsByType([Challenge, ServerProof, Welcome, Heartbeat, CommandRequest]);
const agentValidators = validatorsByType([Hello, AgentProof, Heartbeat, InventoryReport, CommandResponse]);

/** Thrown for a text frame that is not JSON, not this protocol version, or not a valid message. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly versionMismatch = false,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function decodeWith<T>(text: string, validators: Map<string, (value: unknown) => unknown>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('message is not valid JSON');
  }
  if (value && typeof value === 'object' && 'v' in value && value.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(`protocol version ${String(value.v)} is not supported (want ${PROTOCOL_VERSION})`, true);
  }
  const type = value && typeof value === 'object' && 'type' in value ? String(value.type).slice(0, 40) : null;
  const parse = type === null ? undefined : validators.get(type);
  if (!parse) throw new ProtocolError(type === null ? 'message has no type' : `unknown message type '${type}'`);
  try {
    return parse(value) as T;
  } catch (error) {
    throw new ProtocolError(`invalid '${type}' message: ${error instanceof SchemaError ? error.message : 'bad shape'}`);
  }
}

export const decodeServerMessage = (text: string): ServerMessage => decodeWith(text, serverValidators);
export const decodeAgentMessage = (text: string): AgentMessage => decodeWith(text, agentValidators);

/** A message as a sender writes it: everything but the version, which encodeMessage adds. */
export type Outbound<M> = M extends unknown ? Omit<M, 'v'> : never;

/** Adds the protocol version; the only way either end builds an outbound message. */
export function encodeMessage(msg: Outbound<ServerMessage> | Outbound<AgentMessage>): string {
  return JSON.stringify({ ...msg, v: PROTOCOL_VERSION });
}
