/**
 * Reads one line from the terminal without echoing it (passwords, codes); from a pipe, reads the next line, so
 * scripts can feed secrets on stdin instead of argv.
 */
export function promptSecret(question: string, stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WriteStream = process.stderr): Promise<string> {
  stderr.write(question);
  return new Promise((resolve, reject) => {
    let line = '';
    const tty = stdin.isTTY;
    if (tty) stdin.setRawMode(true);
    const finish = (value: string | null) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (tty) stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (value === null) reject(new Error('cancelled'));
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(line);
        if (char === '\u0003' || char === '\u0004') return finish(null);
        if (char === '\u007f' || char === '\b') line = line.slice(0, -1);
        else line += char;
      }
    };
    const onEnd = () => finish(line || null);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}
