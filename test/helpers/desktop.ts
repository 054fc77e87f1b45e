import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * A real end-user desktop for consent tests: login records in a utmp file of the test's own (written by the real
 * `utmpdump -r`), a real X server (Xvfb) and the real dialog the agent puts up, answered by clicking its buttons with
 * xdotool. Needs `apt-get install xvfb xdotool x11-utils`.
 */
const run = promisify(execFile);

export const HAVE_DESKTOP_TOOLS = ['/usr/bin/Xvfb', '/usr/bin/xdotool', '/usr/bin/xwininfo', '/usr/bin/xmessage', '/usr/bin/utmpdump'].every((f) => existsSync(f));

export interface UtmpEntry {
  user: string;
  /** tty without /dev/ (`pts/3`) or an X display (`:91`). */
  line: string;
  host?: string;
  /** A live process: the agent ignores records whose process is gone. */
  pid: number;
}

/** Writes USER_PROCESS records in utmpdump's text form through `utmpdump -r`. */
export async function writeUtmp(file: string, entries: UtmpEntry[]): Promise<void> {
  const text = entries
    .map((e) => `[7] [${String(e.pid).padStart(5, '0')}] [${e.line.slice(-4).padEnd(4)}] [${e.user.padEnd(8)}] [${e.line.padEnd(12)}] [${(e.host ?? '').padEnd(20)}] [0.0.0.0        ] [2026-11-22T16:14:00,000000+00:00]`)
    .join('\n');
  const binary = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('utmpdump', ['-r'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`utmpdump -r exited ${code}`))));
    child.stdin.end(entries.length ? `${text}\n` : '');
  });
  await writeFile(file, binary);
}

export interface VirtualDisplay {
  display: string;
  stop(): Promise<void>;
}

/** Starts Xvfb on a free display (no access control, no TCP) and waits until it answers. */
export async function startVirtualDisplay(): Promise<VirtualDisplay> {
  for (let n = 90 + Math.floor(Math.random() * 100); ; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const display = `:${n}`;
    const xvfb: ChildProcess = spawn('Xvfb', [display, '-ac', '-nolisten', 'tcp', '-screen', '0', '1024x768x24'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        await run('xdotool', ['getdisplaygeometry'], { env: { ...process.env, DISPLAY: display } });
        return {
          display,
          stop: async () => {
            xvfb.kill();
            await new Promise((r) => xvfb.once('exit', r));
          },
        };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    xvfb.kill();
    throw new Error(`Xvfb did not start on ${display}`);
  }
}

/**
 * Waits for a window titled `title` and clicks one of its buttons: the buttons are the widgets of the bottom row,
 * left to right (xmessage lays them out in the order given: Allow, Deny).
 */
export async function clickDialogButton(display: string, title: string, index: number, timeoutMs = 20_000): Promise<void> {
  const env = { ...process.env, DISPLAY: display };
  const found = await run('timeout', [String(Math.ceil(timeoutMs / 1000)), 'xdotool', 'search', '--sync', '--name', title], { env });
  const window = found.stdout.trim().split('\n')[0];
  const tree = await run('xwininfo', ['-tree', '-id', window], { env });
  const widgets = [...tree.stdout.matchAll(/^\s+(0x[0-9a-f]+) .*?\s(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s+\+/gm)].map((m) => ({ id: m[1], x: Number(m[4]), y: Number(m[5]), h: Number(m[3]) }));
  const bottom = Math.max(...widgets.map((w) => w.y));
  const buttons = widgets.filter((w) => w.y === bottom && w.x >= 0).sort((a, b) => a.x - b.x);
  if (!buttons[index]) throw new Error(`window '${title}' has no button ${index}: ${tree.stdout}`);
  await run('xdotool', ['mousemove', '--window', buttons[index].id, '4', '4', 'click', '1'], { env });
}
