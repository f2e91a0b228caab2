/**
 * fleetsync's own errors: one class per failure, each with `cause`. Adapters translate SDK errors into
 * these at their edge, so the core never sees a technology's error.
 */
export class FleetsyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A control plane said "slow down"; retry with backoff. */
export class ThrottledError extends FleetsyncError {}
/** A call that may work if tried again (network, 5xx, a command not yet visible). */
export class TransientError extends FleetsyncError {}
/** A conditional write lost: someone else changed the item (a newer generation, another attempt). */
export class ConflictError extends FleetsyncError {}
/** A write carried a lease token older than the item's: this process is no longer the leader. */
export class StaleTokenError extends FleetsyncError {}
/** The thing asked for does not exist (fleet, instance, command). */
export class NotFoundError extends FleetsyncError {}
/** An item in the store could not be read as what it should be (written by hand, or by a newer version). */
export class MalformedItemError extends FleetsyncError {
  /** the item's generation when it still has a readable one: a spec can then be replaced at it */
  readonly generation: number | undefined;

  constructor(message: string, options?: { cause?: unknown; generation?: number }) {
    super(message, options);
    this.generation = options?.generation;
  }
}

/** The generation of a raw item, when it holds a whole number there. */
export function rawGeneration(item: unknown): number | undefined {
  const g = (item as { generation?: unknown } | null | undefined)?.generation;
  return typeof g === 'number' && Number.isInteger(g) && g >= 1 ? g : undefined;
}
/** The store cannot be reached. */
export class StoreUnavailableError extends FleetsyncError {}
/** A call to a control plane failed for a reason retrying will not fix (permissions, bad parameters). */
export class ControlPlaneError extends FleetsyncError {}
/** The controller's configuration is wrong: says which key and what is allowed. */
export class ConfigError extends FleetsyncError {}
/** A file changed between being hashed and being uploaded: its object would not match its name. */
export class ContentChangedError extends FleetsyncError {}
/** A revision is already published (or uploaded as a plain folder) with other content: revisions are immutable. */
export class RevisionExistsError extends FleetsyncError {}

/** The store refused to remove objects `fleetsync gc` chose (S3's DeleteObjects lists them in a 200 answer). */
export class ObjectDeleteError extends FleetsyncError {}
/** `fleetsync gc` cannot tell what some manifest, fleet or host references: it removes nothing rather than guess. */
export class UnknownReferencesError extends FleetsyncError {}
