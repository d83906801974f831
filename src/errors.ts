/** Faults (never denials: a denial is data). Each has a stable `code` for logs and tests. */
export class StsguardError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad configuration: names the flag, variable, file or field at fault. */
export class ConfigError extends StsguardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_CONFIG", message, options);
  }
}

/** A request body that is not a usable AdmissionReview v1. Maps to HTTP 400. */
export class BadReviewError extends StsguardError {
  constructor(message: string) {
    super("E_BAD_REVIEW", message);
  }
}

/** The Kubernetes API could not be read in time. Decided by `onLookupFailure`, never a silent allow. */
export class LookupError extends StsguardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("E_LOOKUP", message, options);
  }
}

/** Wrong command-line usage: the CLI prints it with usage and exits 2. */
export class UsageError extends StsguardError {
  constructor(message: string) {
    super("E_USAGE", message);
  }
}

/** The message of a caught value, for error texts that wrap it. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
