import WebSocket from 'ws';
import { decodeConsoleServerMessage, encodeStreamFrame, encodeStreamMessage, StreamTag } from '../../protocol/session-stream.ts';
import { MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { CliCredentials } from './cli-credentials.ts';

/** How the attach ended: the shell's exit code when it exited, else null with the reason. */
export interface AttachOutcome {
  exitCode: number | null;
  reason: string;
}

/**
 * Attaches this process's terminal to a session stream, like `ssh`: raw mode, every keystroke sent as typed,
 * output written as received, the window size followed, and the remote exit code returned. Ctrl-C and friends go
 * to the remote shell, not to this process.
 */
export function attachTerminal(credentials: CliCredentials, streamPath: string, opts: { observe: boolean; stdin: NodeJS.ReadStream; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream }): Promise<AttachOutcome> {
  const url = new URL(streamPath + (opts.observe ? '?as=observer' : ''), credentials.serverUrl.replace(/^http/, 'ws'));
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${credentials.token}` }, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
  const { stdin, stdout, stderr } = opts;
  let outcome: AttachOutcome | null = null;

  const resize = () => {
    if (socket.readyState === WebSocket.OPEN && stdout.columns && stdout.rows) socket.send(encodeStreamMessage({ type: 'resize', cols: stdout.columns, rows: stdout.rows }));
  };
  const onInput = (data: Buffer) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(encodeStreamFrame(StreamTag.terminal, data));
  };

  return new Promise((resolve) => {
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let message = `HTTP ${res.statusCode}`;
        try {
          message = (JSON.parse(body) as { error: { message: string } }).error.message;
        } catch {
          /* not our JSON */
        }
        resolve({ exitCode: null, reason: `the server refused the session stream: ${message}` });
      });
    });
    socket.on('error', (error) => (outcome ??= { exitCode: null, reason: error.message }));
    socket.on('open', () => {
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.on('data', onInput);
      stdin.resume();
      stdout.on('resize', resize);
      resize();
    });
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        // Backpressure: stop reading the socket while the local terminal is behind.
        if (data[0] === StreamTag.terminal && !stdout.write(data.subarray(1))) {
          socket.pause();
          stdout.once('drain', () => socket.resume());
        }
        return;
      }
      const message = decodeConsoleServerMessage(data.toString('utf8'));
      if (message.type === 'joined' && message.you.role === 'observer') stderr.write('\r\n[steward] attached as an observer: your keystrokes are not sent\r\n');
      if (message.type === 'ended') outcome = { exitCode: message.exitCode, reason: message.reason };
    });
    socket.on('close', (code, reason) => {
      stdin.off('data', onInput);
      stdout.off('resize', resize);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      resolve(outcome ?? { exitCode: null, reason: `the session stream closed (${code}${reason.length ? `: ${reason.toString()}` : ''})` });
    });
  });
}
