import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/** Thrown when a value does not match its schema; `message` names the first offending path. */
export class SchemaError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'SchemaError';
  }
}

export interface Validator<T extends TSchema> {
  check(value: unknown): value is Static<T>;
  /** Returns the value typed, or throws SchemaError naming what was wrong. */
  parse(value: unknown): Static<T>;
}

/** Compiles a schema once; `parse` is then cheap enough for every message on the wire. */
export function compile<T extends TSchema>(schema: T): Validator<T> {
  const checker: TypeCheck<T> = TypeCompiler.Compile(schema);
  return {
    check: (value): value is Static<T> => checker.Check(value),
    parse(value) {
      if (checker.Check(value)) return value;
      const first = checker.Errors(value).First();
      const path = first?.path || '/';
      throw new SchemaError(`${path}: ${first?.message ?? 'invalid value'}`, path);
    },
  };
}
