// Entry point of the packaged (single-executable) agent: the CLI, unless this process is a node-pty helper re-launch.
import { runForkedNativeHelper } from './platform/native-modules.ts';

if (!runForkedNativeHelper()) void import('./main.ts');
