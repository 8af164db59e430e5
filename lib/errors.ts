// Error helpers shared by every layer. Argument errors read
// "Expected X for Y but received Z" so that a user can fix the call at once.

/** A description of what was received, printed as is (not quoted like a received string). */
export class Received {
  constructor(readonly text: string) {}
}

export function received(text: string): Received {
  return new Received(text);
}

export function describe(value: unknown): string {
  if (value instanceof Received) return value.text;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

export function expectedType(what: string, name: string, received: unknown): TypeError {
  return new TypeError(`Expected ${what} for ${name} but received ${describe(received)}`);
}

export function expectedRange(what: string, name: string, received: unknown): RangeError {
  return new RangeError(`Expected ${what} for ${name} but received ${describe(received)}`);
}

/** A file that cannot be read as what it claims to be (corrupt, truncated, wrong format). */
export class FormatError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'FormatError';
  }
}

export function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
