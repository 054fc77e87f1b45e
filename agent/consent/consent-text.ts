/** Longest text put in front of an end user. */
const MAX_TEXT = 1000;

/**
 * Text an end user sees, made inert: every control character (escape sequences, bells, carriage returns, C1 codes,
 * line and paragraph separators) becomes a space, unpaired surrogates U+FFFD, at most 1000 characters. A
 * technician's name must not carry escape sequences into a terminal, or a fake prompt onto a line of its own, so line
 * breaks survive only where the caller asks (dialog bodies), as `\n`.
 */
export function displayable(text: string, opts: { keepLineBreaks?: boolean } = { keepLineBreaks: true }): string {
  let out = '';
  let count = 0;
  for (const ch of text.replace(/\r\n?/g, '\n')) {
    if (count++ >= MAX_TEXT) break;
    const code = ch.codePointAt(0) as number;
    if (ch === '\n') out += opts.keepLineBreaks ? ch : ' ';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) out += ' ';
    else if (code >= 0xd800 && code <= 0xdfff) out += '\ufffd';
    else out += ch;
  }
  return out;
}
