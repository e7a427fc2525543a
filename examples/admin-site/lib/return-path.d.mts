/** The monitor's path: where the login goes when `next` is missing or could leave the site. */
export declare const DEFAULT_RETURN_PATH: string
/** `next` when it is a path on this site (normalised), otherwise `fallback`. */
export declare function returnPath(next: unknown, fallback?: string): string
