import type { Json } from './types'

/** `https://host/path` of a URL: no user:password, no ?query, no #fragment. */
export declare function displayUrl(url: string): string
/** An order's file URL as the browser may see it. */
export declare function displayFileUrl(url: string): string
/** `text` with every URL in it shown as displayUrl() shows it. */
export declare function redactText(text: string): string
/** A copy of `value` as JSON would send it, file URLs and URLs in text reduced to scheme, host and path. */
export declare function forBrowser<T>(value: T): Json<T>
