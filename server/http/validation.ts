import { Ajv, type ErrorObject } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Request validation. Bodies are JSON and must match their schema exactly: no type coercion (`{"name": 123}` is
 * not a name) and no unknown fields. Query strings and path parameters arrive as text, so there numbers and
 * booleans are coerced from their spelling.
 */
function makeAjv(coerceTypes: boolean | 'array') {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  // ajv-formats is CommonJS: under ESM its default import is the module object on some toolchains.
  const addFormats = ((formatsPlugin as unknown as { default?: typeof formatsPlugin }).default ?? formatsPlugin) as unknown as (a: Ajv) => void;
  addFormats(ajv);
  return ajv;
}

export function installValidation(app: FastifyInstance): void {
  const strict = makeAjv(false);
  const fromText = makeAjv('array');
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : fromText).compile(schema));
}

/** One readable sentence for a validation failure, naming the offending field. */
export function describeValidationError(part: string, error: ErrorObject): string {
  const where = `${part}${error.instancePath}`;
  if (error.keyword === 'additionalProperties') return `${where}/${String(error.params.additionalProperty)} is not allowed`;
  if (error.keyword === 'required') return `${where}/${String(error.params.missingProperty)} is required`;
  return `${where} ${error.message ?? 'is invalid'}`;
}
