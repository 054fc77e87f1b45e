import WebSocket from 'ws';
import { decodeConsoleServerMessage, encodeStreamFrame, encodeStreamMessage, StreamTag, type ConsoleServerMessage } from '../../protocol/session-stream.ts';

/** A technician's console attached to a session stream over a real WebSocket, as the CLI or browser would. */
export interface TestConsole {
  socket: WebSocket;
  /** Every terminal byte received so far, as text. */
  output(): string;
  messages: ConsoleServerMessage[];
  type(text: string): void;
  resize(cols: number, rows: number): void;
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  waitForMessage<T extends ConsoleServerMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<ConsoleServerMessage, { type: T }>>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export function streamUrl(serverUrl: string, sessionId: string, query = ''): string {
  return `${serverUrl.replace(/^http/, 'ws')}/api/v1/sessions/${sessionId}/stream${query}`;
}

/** Attaches; rejects with the HTTP status when the upgrade is refused. */
export function attachConsole(serverUrl: string, sessionId: string, opts: { token?: string; headers?: Record<string, string>; query?: string } = {}): Promise<TestConsole> {
  const headers = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers };
  const socket = new WebSocket(streamUrl(serverUrl, sessionId, opts.query), { headers, perMessageDeflate: false });
  let text = '';
  const messages: ConsoleServerMessage[] = [];
  const listeners = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      if (data[0] === StreamTag.terminal) text += data.subarray(1).toString('utf8');
    } else messages.push(decodeConsoleServerMessage(data.toString('utf8')));
    for (const listener of [...listeners]) listener();
  });
  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined) return false;
        listeners.delete(attempt);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(attempt);
        reject(new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(text.slice(-500))}`));
      }, timeoutMs);
      if (!attempt()) listeners.add(attempt);
    });
  const console: TestConsole = {
    socket,
    output: () => text,
    messages,
    type: (input) => socket.send(encodeStreamFrame(StreamTag.terminal, Buffer.from(input, 'utf8'))),
    resize: (cols, rows) => socket.send(encodeStreamMessage({ type: 'resize', cols, rows })),
    waitForOutput: (pattern, timeoutMs = 10_000) =>
      waitUntil(() => {
        const match = typeof pattern === 'string' ? (text.includes(pattern) ? pattern : null) : pattern.exec(text)?.[0];
        return match ?? undefined;
      }, timeoutMs, `output ${String(pattern)}`),
    waitForMessage: (type, timeoutMs = 10_000) =>
      waitUntil(() => messages.find((m) => m.type === type) as never, timeoutMs, `message '${type}'`),
    closed,
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(console));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(Object.assign(new Error(`stream refused: HTTP ${res.statusCode} ${body}`), { status: res.statusCode, body })));
    });
    socket.once('error', reject);
  });
}
