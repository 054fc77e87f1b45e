import path from 'node:path';
import { parseArgs } from 'node:util';
import { FATAL_CLOSE_CODES } from '../protocol/close-codes.ts';
import type { MachineKind } from '../protocol/inventory.ts';
import { STEWARD_VERSION } from '../protocol/version.ts';
import { AgentLink } from './connection/agent-link.ts';
import { ConnectionClosed } from './connection/message-stream.ts';
import { enroll } from './enroll.ts';
import { collectInventory } from './inventory/collect.ts';
import { createAgentLogger } from './log.ts';
import { SessionManager } from './sessions/session-manager.ts';
import { consentPrompterForThisPlatform } from './platform/consent.ts';
import { accountBackendsForThisPlatform } from './platform/account-backends.ts';
import { remoteSupportShellForThisPlatform } from './platform/remote-support-shell.ts';
import { CredentialJobs } from './credentials/credential-jobs.ts';
import { defaultStateDir } from './platform/state-dir.ts';
import { loadEnrollment, loadKeyPair } from './state/agent-state.ts';

const USAGE = `steward-agent ${STEWARD_VERSION}

Usage:
  steward-agent enroll --server <url> [--token <token>] [--state-dir <dir>] [--allow-insecure]
                       [--ca-file <pem>] [--pin-cert <sha256>]
  steward-agent run [--state-dir <dir>] [--kind desktop|server]
  steward-agent inventory            print this machine's inventory as JSON

  --token       the enrollment token; better from $STEWARD_ENROLLMENT_TOKEN (argv is visible to every local user)
  --state-dir   default: per-OS system location, or $STEWARD_AGENT_STATE_DIR
  --kind        override machine kind detection (or $STEWARD_AGENT_KIND)
  --allow-insecure  permit unencrypted ws:// to a non-loopback server (not recommended)
`;

const options = {
  server: { type: 'string' },
  token: { type: 'string' },
  'state-dir': { type: 'string' },
  'allow-insecure': { type: 'boolean', default: false },
  'ca-file': { type: 'string' },
  'pin-cert': { type: 'string' },
  kind: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function fail(message: string, code = 2): never {
  process.stderr.write(`steward-agent: ${message}\n`);
  process.exit(code);
}

function kindOverride(value: string | undefined): MachineKind | undefined {
  if (value === undefined || value === '') return undefined;
  if (value !== 'desktop' && value !== 'server') fail(`--kind must be 'desktop' or 'server', not '${value}'`);
  return value;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ options, allowPositionals: true, args: process.argv.slice(2) });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return;
  }
  const stateDir = values['state-dir'] ?? defaultStateDir();
  const log = createAgentLogger();
  const kind = kindOverride(values.kind ?? process.env.STEWARD_AGENT_KIND);
  const inventory = () => collectInventory({ agentVersion: STEWARD_VERSION, kindOverride: kind, onWarning: (w) => log.warn(w, 'inventory part failed') });

  switch (command) {
    case 'enroll': {
      const token = values.token ?? process.env.STEWARD_ENROLLMENT_TOKEN;
      if (!values.server || !token) fail(`enroll needs --server and --token (or $STEWARD_ENROLLMENT_TOKEN)\n\n${USAGE}`);
      try {
        const { machineId } = await enroll({
          serverUrl: values.server,
          token,
          stateDir,
          allowInsecure: values['allow-insecure'],
          // Saved absolute: the service that runs the agent later starts in another directory.
          tls: { caFile: values['ca-file'] ? path.resolve(values['ca-file']) : null, pinnedCertSha256: values['pin-cert'] ?? null },
        });
        process.stdout.write(`enrolled as machine ${machineId} (state in ${stateDir})\n`);
      } catch (error) {
        const fatal = error instanceof ConnectionClosed && FATAL_CLOSE_CODES.has(error.code);
        fail(`enrollment failed: ${(error as Error).message}`, fatal ? 3 : 1);
      }
      return;
    }
    case 'run': {
      let link: AgentLink;
      let sessions: SessionManager;
      try {
        const enrollment = loadEnrollment(stateDir);
        const keyPair = await loadKeyPair(stateDir);
        const accounts = accountBackendsForThisPlatform();
        sessions = new SessionManager({ enrollment, keyPair, stateDir, log, consent: consentPrompterForThisPlatform(), remoteSupportShell: remoteSupportShellForThisPlatform(accounts) });
        link = new AgentLink(
          {
            log,
            collectInventory: inventory,
            sessions,
            credentials: new CredentialJobs(accounts, { machineId: enrollment.machineId, serverPublicKey: enrollment.serverPublicKey, log }),
          },
          { enrollment, keyPair, inventoryIntervalMs: Number(process.env.STEWARD_AGENT_INVENTORY_SECONDS ?? 300) * 1000 },
        );
      } catch (error) {
        fail((error as Error).message);
      }
      const stop = () => {
        sessions.closeAll('agent stopping');
        link.stop();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      log.info({ stateDir, version: STEWARD_VERSION }, 'agent starting');
      await link.run();
      log.info('agent stopped');
      return;
    }
    case 'inventory':
      process.stdout.write(JSON.stringify(await inventory(), null, 2) + '\n');
      return;
    default:
      fail(`unknown command '${command}'\n\n${USAGE}`);
  }
}

void main();
