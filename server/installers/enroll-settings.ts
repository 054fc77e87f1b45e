/**
 * The enrollment settings a downloaded installer carries, rendered for the scripts that read them: enroll.env for
 * the Linux and macOS scripts (parsed as KEY=VALUE lines, never sourced) and install.cmd for the MSI. Every value
 * is checked against a strict alphabet first, so no quoting rule of sh or cmd.exe (`$`, backquote, `'`, `"`, `%`,
 * `^`, `&`, spaces, newlines) can ever matter, even to someone who sources enroll.env by hand.
 */
export interface EnrollSettings {
  /** ws:// or wss:// URL of this server (see agent-server-url.ts). */
  serverUrl: string;
  /** A fresh stw1.… enrollment token for the site. */
  token: string;
  expiresAt: Date;
  maxUses: number;
}

const SAFE_VALUE = /^[A-Za-z0-9._~:/[\]-]+$/;

function safe(name: string, value: string): string {
  if (!SAFE_VALUE.test(value)) throw new Error(`${name} has characters that are not safe in an installer script`);
  return value;
}

function expiryNote(settings: EnrollSettings): string {
  const uses = settings.maxUses === 1 ? 'one machine' : `up to ${settings.maxUses} machines`;
  return `enrolls ${uses} until ${settings.expiresAt.toISOString()}`;
}

/** enroll.env: single-quoted values (the scripts strip one pair of quotes) over a safe alphabet. */
export function enrollEnv(settings: EnrollSettings): Buffer {
  return Buffer.from(
    [
      '# Steward agent enrollment settings, read (never executed) by install.sh and deleted once used.',
      `# The token is a secret: it ${expiryNote(settings)}.`,
      `STEWARD_SERVER_URL='${safe('server URL', settings.serverUrl)}'`,
      `STEWARD_ENROLLMENT_TOKEN='${safe('enrollment token', settings.token)}'`,
      '',
    ].join('\n'),
  );
}

/**
 * install.cmd beside the MSI. msiexec takes the settings as properties on its command line, so while it runs the
 * token is visible to administrators and to process-creation auditing (installers/windows/README.md).
 */
export function installCmd(msiFileName: string, settings: EnrollSettings): Buffer {
  return Buffer.from(
    [
      '@echo off',
      'rem Installs the Steward agent and enrolls this computer. Run as administrator.',
      `rem The token below is a secret: it ${expiryNote(settings)}.`,
      'rem It passes on msiexec\'s command line while the install runs. Delete this folder afterwards.',
      'net session >nul 2>&1',
      'if errorlevel 1 (',
      '  echo install.cmd must run as administrator ^(right-click, Run as administrator^).',
      '  exit /b 1',
      ')',
      `msiexec /i "%~dp0${safe('MSI file name', msiFileName)}" SERVERURL="${safe('server URL', settings.serverUrl)}" TOKEN="${safe('enrollment token', settings.token)}" /qn /norestart`,
      'set result=%ERRORLEVEL%',
      'if "%result%"=="3010" echo Installed; Windows asks for a restart to finish.& exit /b 0',
      'if not "%result%"=="0" echo Steward agent installation failed: msiexec exit code %result%',
      'exit /b %result%',
      '',
    ].join('\r\n'),
  );
}
