import { StringDecoder } from 'node:string_decoder';

/**
 * Writes asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one JSON array
 * per event — `[seconds, "o", text]` output, `"i"` input, `"r"` resize as "COLSxROWS". Terminal bytes may split a
 * UTF-8 character across frames, so each direction has its own streaming decoder.
 */
export class AsciicastWriter {
  private readonly output = new StringDecoder('utf8');
  private readonly input = new StringDecoder('utf8');

  constructor(private readonly startedAt: number) {}

  header(meta: { cols: number; rows: number; title: string }): string {
    return (
      JSON.stringify({
        version: 2,
        width: meta.cols,
        height: meta.rows,
        timestamp: Math.floor(this.startedAt / 1000),
        title: meta.title,
        env: { TERM: 'xterm-256color' },
      }) + '\n'
    );
  }

  outputEvent(bytes: Uint8Array, at = Date.now()): string {
    return this.event(at, 'o', this.output.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  }

  inputEvent(bytes: Uint8Array, at = Date.now()): string {
    return this.event(at, 'i', this.input.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  }

  resizeEvent(cols: number, rows: number, at = Date.now()): string {
    return this.event(at, 'r', `${cols}x${rows}`);
  }

  private event(at: number, code: 'o' | 'i' | 'r', text: string): string {
    if (!text) return '';
    return JSON.stringify([Math.max(0, (at - this.startedAt) / 1000), code, text]) + '\n';
  }
}
