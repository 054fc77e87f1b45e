import type { CommandErrorCode } from '../../protocol/commands.ts';

/** A command the agent will not run, with the protocol's error code. */
export class CommandRefused extends Error {
  constructor(
    readonly code: CommandErrorCode,
    message: string,
  ) {
    super(message);
  }
}
