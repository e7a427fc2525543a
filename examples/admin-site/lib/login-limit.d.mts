export declare const MAX_FAILURES: number
export declare const WINDOW_MS: number

/** Failed sign-ins per key (client address, account name), with a lockout at the limit. In memory. */
export declare class LoginLimiter {
  constructor(options?: { maxFailures?: number; windowMs?: number; maxKeys?: number })
  readonly maxFailures: number
  readonly windowMs: number
  /** Seconds until every key may try again, or 0 when none is locked. */
  retryAfter(keys: string[], now?: number): number
  /** Counts a failure on each key; returns retryAfter() after it (non-zero: now locked out). */
  fail(keys: string[], now?: number): number
  /** A successful sign-in: its keys start again from zero. */
  succeed(keys: string[]): void
}

/** The counters an attempt counts against: `ip:<address>` and `account:<name, lower case>`. */
export declare function loginKeys(ip: string, email: string): string[]
/** The client's address: the last X-Forwarded-For entry (see the note in login-limit.mjs). */
export declare function clientIp(headers: { get(name: string): string | null }): string
