import { Type, type Static } from '@sinclair/typebox';
import { decodeWith, message, type Outbound, validatorsByType } from './messages.ts';
import { PROTOCOL_VERSION } from './version.ts';

/**
 * The two WebSockets of a remote session, both relayed by the server:
 *
 *   session link  agent ⇄ server, one socket per session, dialled by the agent to AGENT_SESSION_PATH.
 *                 server → challenge {serverNonce}
 *                 agent  → attach    {sessionId, agentNonce, signature by the agent key}
 *                 server → attached  {signature by the server key}      — the agent checks the key it pinned
 *                 then terminal bytes both ways, resize (server → agent), exit (agent → server),
 *                 end (server → agent: the server ends the session and says why).
 *   console stream  technician ⇄ server at /api/v1/sessions/:id/stream.
 *                 server → joined {role, participants}, participants, exit, ended; client → resize.
 *
 * Text frames carry these JSON messages; binary frames carry a one-byte stream tag and the bytes (see
 * encodeStreamFrame), identical on both sockets so the server forwards frames without copying them.
 */
const Nonce = Type.String({ minLength: 44, maxLength: 44 });
const Signature = Type.String({ minLength: 88, maxLength: 88 });
const Size = { cols: Type.Integer({ minimum: 1, maximum: 1000 }), rows: Type.Integer({ minimum: 1, maximum: 1000 }) };
const ExitStatus = { exitCode: Type.Union([Type.Integer(), Type.Null()]), signal: Type.Union([Type.Integer(), Type.Null()]) };
const Reason = Type.String({ maxLength: 500 });

export const LinkChallenge = message('challenge', { serverNonce: Nonce });
export const LinkAttach = message('attach', { sessionId: Type.String({ format: 'uuid', maxLength: 36 }), agentNonce: Nonce, signature: Signature });
export const LinkAttached = message('attached', { signature: Signature });
export const Resize = message('resize', Size);
export const Exit = message('exit', ExitStatus);
export const End = message('end', { reason: Reason });

/*
 * File transfer inside a session (the `files` right). Bytes travel as binary frames tagged StreamTag.file with the
 * transfer id (see encodeFileFrame); the agent canonicalizes every path against its allowed roots and checks the
 * SHA-256 and size before an upload replaces anything.
 */
const TransferId = Type.Integer({ minimum: 1, maximum: 0xffffffff });
const FilePath = Type.String({ minLength: 1, maxLength: 4096 });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const MAX_TRANSFER_BYTES = 1024 * 1024 * 1024;
export const FileUpload = message('file_upload', { transferId: TransferId, path: FilePath, size: Type.Integer({ minimum: 0, maximum: MAX_TRANSFER_BYTES }), sha256: Sha256 });
export const FileDownload = message('file_download', { transferId: TransferId, path: FilePath });
export const FileCancel = message('file_cancel', { transferId: TransferId, reason: Reason });
export const FileMeta = message('file_meta', { transferId: TransferId, path: FilePath, size: Type.Integer({ minimum: 0 }) });
export const FileResult = Type.Union([
  message('file_result', { transferId: TransferId, ok: Type.Literal(true), path: FilePath, size: Type.Integer({ minimum: 0 }), sha256: Sha256 }),
  message('file_result', { transferId: TransferId, ok: Type.Literal(false), error: Reason }),
]);
export const Transfer = message('transfer', {
  transferId: TransferId,
  direction: Type.Union([Type.Literal('upload'), Type.Literal('download')]),
  path: FilePath,
  bytes: Type.Integer({ minimum: 0 }),
  total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  error: Type.Optional(Reason),
});

export const Participant = Type.Object(
  {
    participantId: Type.String({ maxLength: 36 }),
    userId: Type.String({ maxLength: 36 }),
    name: Type.String({ maxLength: 200 }),
    role: Type.Union([Type.Literal('owner'), Type.Literal('participant'), Type.Literal('observer')]),
  },
  { additionalProperties: false },
);
export type Participant = Static<typeof Participant>;
export const Joined = message('joined', { sessionId: Type.String({ maxLength: 36 }), you: Participant, participants: Type.Array(Participant, { maxItems: 100 }) });
export const Participants = message('participants', { participants: Type.Array(Participant, { maxItems: 100 }) });
export const Ended = message('ended', { reason: Reason, ...ExitStatus });

export type FileRequest = Static<typeof FileUpload> | Static<typeof FileDownload> | Static<typeof FileCancel>;
export type FileReply = Static<typeof FileMeta> | Static<typeof FileResult>;
export type LinkServerMessage = Static<typeof LinkChallenge> | Static<typeof LinkAttached> | Static<typeof Resize> | Static<typeof End> | FileRequest;
export type LinkAgentMessage = Static<typeof LinkAttach> | Static<typeof Exit> | FileReply;
export type ConsoleServerMessage = Static<typeof Joined> | Static<typeof Participants> | Static<typeof Ended> | Static<typeof Transfer>;
export type ConsoleClientMessage = Static<typeof Resize>;

const linkServer = validatorsByType([LinkChallenge, LinkAttached, Resize, End, FileUpload, FileDownload, FileCancel]);
const linkAgent = validatorsByType([LinkAttach, Exit, FileMeta, FileResult]);
const consoleServer = validatorsByType([Joined, Participants, Ended, Transfer]);
const consoleClient = validatorsByType([Resize]);

export const decodeLinkServerMessage = (text: string): LinkServerMessage => decodeWith(text, linkServer);
export const decodeLinkAgentMessage = (text: string): LinkAgentMessage => decodeWith(text, linkAgent);
export const decodeConsoleServerMessage = (text: string): ConsoleServerMessage => decodeWith(text, consoleServer);
export const decodeConsoleClientMessage = (text: string): ConsoleClientMessage => decodeWith(text, consoleClient);

export function encodeStreamMessage(
  msg: Outbound<LinkServerMessage> | Outbound<LinkAgentMessage> | Outbound<ConsoleServerMessage> | Outbound<ConsoleClientMessage>,
): string {
  return JSON.stringify({ ...msg, v: PROTOCOL_VERSION });
}

/** The first byte of every binary frame on a session socket. */
export const StreamTag = {
  /** Terminal bytes: output from the agent, keystrokes to it. */
  terminal: 0x01,
  /** File bytes: a 4-byte transfer id, then the chunk. */
  file: 0x02,
} as const;

/** The largest file chunk in one frame. */
export const FILE_CHUNK_BYTES = 256 * 1024;

export function encodeFileFrame(transferId: number, chunk: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + chunk.length);
  frame[0] = StreamTag.file;
  frame.writeUInt32BE(transferId, 1);
  frame.set(chunk, 5);
  return frame;
}

/** Null for a frame too short to carry a transfer id. */
export function decodeFileFrame(frame: Buffer): { transferId: number; chunk: Buffer } | null {
  if (frame.length < 5 || frame[0] !== StreamTag.file) return null;
  return { transferId: frame.readUInt32BE(1), chunk: frame.subarray(5) };
}

export function encodeStreamFrame(tag: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(1 + payload.length);
  frame[0] = tag;
  frame.set(payload, 1);
  return frame;
}

/** The labelled transcripts the two sides sign on a session link: both nonces, the session, and who is signing. */
export function linkTranscript(role: 'agent' | 'server', sessionId: string, serverNonce: Uint8Array, agentNonce: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`steward/session-link/v1/${role}\n${sessionId}\n`, 'utf8'), serverNonce, agentNonce]);
}
