/**
 * Binary WebSocket frames carry session streams (terminal bytes, file chunks). Header, big-endian:
 *   byte 0      frame version (1)
 *   bytes 1..4  channel id (uint32, non-zero; channel 0 is reserved)
 * followed by the payload. JSON control messages always travel as text frames, never binary.
 */
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 5;

export interface BinaryFrame {
  channel: number;
  payload: Uint8Array;
}

export function encodeFrame(channel: number, payload: Uint8Array): Buffer {
  if (!Number.isInteger(channel) || channel < 1 || channel > 0xffffffff) throw new RangeError(`bad channel ${channel}`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt8(FRAME_VERSION, 0);
  frame.writeUInt32BE(channel, 1);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Returns null for a frame that is too short, of another version, or on channel 0. */
export function decodeFrame(data: Uint8Array): BinaryFrame | null {
  if (data.length < FRAME_HEADER_BYTES) return null;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (view.readUInt8(0) !== FRAME_VERSION) return null;
  const channel = view.readUInt32BE(1);
  if (channel === 0) return null;
  return { channel, payload: data.subarray(FRAME_HEADER_BYTES) };
}
