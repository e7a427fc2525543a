/// <reference types="node" />
/**
 * printcore for Node.js: the website's side of a print shop's print queue on MongoDB. Mark orders paid,
 * read the admin monitor (snapshot and live events), take admin actions, read the audit log and metrics,
 * run the migration. Every rule lives in the printcore Rust library; this package is its binding.
 *
 * Conventions of every returned object:
 * - field names are camelCase (the `printers` collection's snake_case fields too: `printer_id` is
 *   `printerId`);
 * - string values (statuses, actions, outcomes, event kinds) are lower snake_case, exactly as stored in
 *   MongoDB (`'reset_state'`, `'already_queued'`); error codes are UPPER_SNAKE_CASE;
 * - every date is a `Date`, log `metadata` included; a field the document does not have is absent
 *   (`undefined`).
 *
 * @packageDocumentation
 */

/** Where an order is in the print state machine (`printStatus`). */
export type PrintStatus = 'pending' | 'printing' | 'printed' | 'failed' | 'cancelled'

/**
 * The website's `paymentStatus`. Only `'completed'` orders are printed. Spellings that differ in case or
 * spaces are normalised by the migration; other values it lists as unresolved (fix them in the database).
 */
export type PaymentStatus = 'pending' | 'completed' | 'failed'

/** A printer's health (`printers.status`). */
export type PrinterStatus = 'online' | 'offline' | 'busy' | 'error'

/** The four admin actions, as logged in `print_logs.action`. */
export type AdminAction = 'reprint' | 'cancel' | 'reset_state' | 'force_printed'

/** Every `print_logs.action`: the state machine's transitions and the migration's summary entry. */
export type LogAction =
  | AdminAction
  | 'mark_paid'
  | 'claim'
  | 'submitted'
  | 'adopt'
  | 'printed'
  | 'rejected'
  | 'retry'
  | 'failed'
  | 'server_shutdown'
  | 'lease_expired'
  | 'returned_by_printer'
  | 'migration'

/**
 * What `markPaid` did: `'queued'` (entered the print queue), `'already_queued'` (it was pending; priority
 * and schedule updated) or `'unchanged'` (printing, printed, failed or cancelled: nothing changed).
 */
export type MarkPaidOutcome = 'queued' | 'already_queued' | 'unchanged'

/**
 * What the printer said when an admin cancelled or reset an order whose job was at it, asked before the
 * order changed state: `'no_worker'` means no worker drives that printer now, so it was not asked.
 */
export type PrinterCancelOutcome = 'confirmed' | 'not_at_printer' | 'already_printed' | 'not_confirmed' | 'no_worker'

/** What a live event is about. */
export type MonitorEventKind = 'order' | 'printer'

/**
 * How the document changed: `'insert'`, `'update'`, `'replace'`, `'delete'` (change streams), `'change'`
 * (polling, or anything else a change stream reports) or `'gone'` (polling: no longer listed).
 */
export type MonitorChange = 'insert' | 'update' | 'replace' | 'delete' | 'change' | 'gone'

/** Where live events come from: change streams, or polling where the deployment has none. */
export type MonitorSource = 'change_stream' | 'poll'

/**
 * Every error code. The guide's error-code reference (docs/guide/src/reference/errors.md) says what each
 * means and what to do.
 * - `NOT_FOUND`: no order with this orderId.
 * - `NOT_PAID`: a reprint of an order whose payment is not completed.
 * - `INVALID_TRANSITION`: the action is not allowed from the order's state; nothing was written.
 * - `OWNERSHIP_LOST`: a worker's write on an order it no longer owns.
 * - `CONFLICT`: the order changed while the action was applied; reload and try again (transient).
 * - `INVALID_ARGUMENT`: a malformed argument (a missing admin reason, an empty id); nothing was written.
 * - `INVALID_DOCUMENT`: the stored order cannot be read (run the migration, or fix the document).
 * - `FILE_UNAVAILABLE` / `FILE_INVALID`: an order's file could not be fetched (transient) / is not printable.
 * - `FILE_REJECTED`: {@link PrintCore.orderFile}: the file policy refuses the file's host, address or a redirect.
 * - `CAPABILITY_MISMATCH`: the order asks for what the printer cannot do.
 * - `UNSUPPORTED`: the deployment cannot do this (change streams on a standalone server).
 * - `TIMEOUT`: the call passed its `timeoutMs`; a write may or may not have been applied (transient).
 * - `ABORTED`: the call's `AbortSignal` fired; a write may or may not have been applied.
 * - `DATABASE`: the database could not be reached or refused the operation (transient).
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'NOT_PAID'
  | 'INVALID_TRANSITION'
  | 'OWNERSHIP_LOST'
  | 'CONFLICT'
  | 'INVALID_ARGUMENT'
  | 'INVALID_DOCUMENT'
  | 'FILE_UNAVAILABLE'
  | 'FILE_INVALID'
  | 'FILE_REJECTED'
  | 'CAPABILITY_MISMATCH'
  | 'UNSUPPORTED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'DATABASE'

/** Every {@link ErrorCode}, in the order the guide's error-code reference lists them. */
export declare const ERROR_CODES: readonly ErrorCode[]

/** Every failed call of this package rejects with a `PrintCoreError`. */
export declare class PrintCoreError extends Error {
  /** @internal Errors are made by the package. */
  private constructor()
  /** Always `'PrintCoreError'`. */
  readonly name: 'PrintCoreError'
  /** What went wrong, stable across versions: switch on it. */
  readonly code: ErrorCode
  /** Whether the same call may succeed if tried again later. */
  readonly transient: boolean
}

/** A failure as plain data (a batch item's error): serialisable with `JSON.stringify`. */
export interface ErrorInfo {
  /** What went wrong. */
  code: ErrorCode
  /** For a person: names the order and says what to do. */
  message: string
  /** Whether trying again later may succeed. */
  transient: boolean
}

/** How one call runs. Every method of {@link PrintCore} takes these among its options. */
export interface CallOptions {
  /** This call's time limit in milliseconds; past it the call rejects with `TIMEOUT` (default: the connection's `timeoutMs`). */
  timeoutMs?: number
  /** Rejects the call with `ABORTED` when aborted (e.g. `request.signal` of a route handler). */
  signal?: AbortSignal
}

/** Options of {@link PrintCore.connect}. */
export interface ConnectOptions {
  /** The website's database name (default `'printshop'`). */
  dbName?: string
  /** Shown in the database's logs (default `'printcore-node'`). */
  appName?: string
  /** The most connections the pool opens per server (default 10; a serverless function wants a few). */
  maxPoolSize?: number
  /** How long a call waits for a usable server before it fails with `DATABASE` (default 30000 ms). */
  serverSelectionTimeoutMs?: number
  /** How long opening one connection may take, in milliseconds. */
  connectTimeoutMs?: number
  /** The default time limit of every call on this connection, in milliseconds (default: none). */
  timeoutMs?: number
}

/** Options of {@link PrintCore.markPaid}. */
export interface MarkPaidOptions extends CallOptions {
  /** Higher prints first (default 0). */
  priority?: number
  /**
   * Do not print before this time (scheduled printing). From then it waits in its place by priority
   * (released at the worker's next claim, within 30 s in a busy queue). A time already past is none.
   */
  notBefore?: Date
}

/** What {@link PrintCore.markPaid} did. */
export interface MarkPaidResult {
  /** What happened to the order. */
  outcome: MarkPaidOutcome
  /** The order's print status afterwards. */
  printStatus: PrintStatus
}

/** The customer's print options (`printingOptions`). */
export interface PrintingOptions {
  /** A named page size, e.g. `'A4'`, `'A3'`, `'Letter'`. */
  pageSize?: string
  /** Colour (`true`) or black and white. */
  color?: boolean
  /** Both sides of the paper. */
  duplex?: boolean
  /** How many copies. */
  copies?: number
}

/** An order's print fields (the website's other fields are not read). */
export interface PrintOrder {
  /** The document's `_id` as hex. */
  id: string
  /** The website's order id. */
  orderId: string
  /** The website's payment status. */
  paymentStatus?: PaymentStatus
  /** Where the order is in the print queue; absent before it was paid (or migrated). */
  printStatus?: PrintStatus
  /** Why the last attempt failed, for a person. */
  printError?: string
  /** The printer that took the order (`printers.printer_id`). */
  printerId?: string
  /** That printer's name. */
  printerName?: string
  /** When the current attempt was claimed. */
  printStartedAt?: Date
  /** When the printer reported the order printed (or it failed). */
  printCompletedAt?: Date
  /** The current attempt's print job id (a UUID), also the printer job's name. */
  printJobId?: string
  /** Attempts so far. */
  printAttempt?: number
  /** The id of the worker printing it. */
  printingBy?: string
  /** The order's file. */
  fileURL?: string
  /** The order's files, for an order of several. */
  fileURLs?: string[]
  /** The customer's print options. */
  printingOptions?: PrintingOptions
  /** When the website created the order. */
  createdAt?: Date
  /** When the payment was recorded. */
  paidAt?: Date
  /** Until when the printing worker holds the order. */
  printLeaseUntil?: Date
  /** When the job reached the printer. */
  printSubmittedAt?: Date
  /** The printer's (or spooler's) id of the job. */
  printerJobRef?: string
  /** Higher prints first. */
  printPriority?: number
  /** Not printed before this time; removed once the time has come (the order is then claimable). */
  printNotBefore?: Date
  /**
   * The sha256 of the order's file (lower-case hex; of several files, theirs joined with commas). The worker
   * records it; store it yourself when you price the order and the worker refuses a different file (the file
   * behind a URL can change after payment), failing the order with both values named.
   */
  fileSha256?: string
  /** Pages of the file (of all files together), as the worker counted them. */
  filePages?: number
  /**
   * The pages of all the order's files as your site counted them when it priced the order (optional): the
   * worker fails the order when the files it downloads have another count.
   */
  expectedPages?: number
  /** The order was handed to a printer in its current attempt: it may be on paper. */
  mayHavePrinted: boolean
  /** Why its job is still waiting at the printer (held, stopped for paper or a jam), while it is. */
  printWaitReason?: string
  /** Print fields whose stored value could not be used, e.g. `printingOptions.color is the string "yes" (expected true or false)`; empty when well-formed. */
  problems: string[]
}

/** What a printer can print. */
export interface PrinterCapabilities {
  /** Named page sizes, e.g. `['A4', 'Letter']`. */
  pageSizes: string[]
  /** Colour printing. */
  color: boolean
  /** Two-sided printing. */
  duplex: boolean
  /** The most copies of one job. */
  maxCopies: number
}

/** A printer and its health. */
export interface Printer {
  /** `printer_id`: the printer's id in the worker's configuration. */
  printerId: string
  /** A name for people. */
  name: string
  /** The system's (or IPP) name of the printer. */
  printerName: string
  /** Its health at the last check. */
  status?: PrinterStatus
  /** When a worker last checked it. */
  lastSeenAt?: Date
  /** When it last completed a job. */
  lastSuccessfulPrintAt?: Date
  /** Jobs waiting at the printer. */
  queueLength?: number
  /** What the printer reported (paper out, jam...). */
  errorMessage?: string
  /** The driver's name. */
  driverName?: string
  /** `'Windows'` or `'Linux'`. */
  systemName?: string
  /** `'usb'`, `'network'` or `'wireless'`. */
  connectionType?: string
  /** Whether it takes part in printing. */
  isActive?: boolean
  /** Whether its worker claims orders for it. */
  autoPrintEnabled?: boolean
  /** What it can print. */
  capabilities?: PrinterCapabilities
  /** The worker driving it. */
  workerId?: string
  /** Since when it has not been online (absent while it is). */
  offlineSince?: Date
  /**
   * What the printer itself says at the last health check, as it says it: IPP `printer-state-reasons`
   * (e.g. `'media-empty-error'`, `'media-jam'`, `'toner-low-report'`) or Windows spooler status names
   * (e.g. `'PaperOut'`, `'Offline'`); never IPP's `'none'`. Empty when it says nothing.
   */
  stateReasons?: string[]
}

/**
 * A metrics sample of one worker, or (with {@link MetricsQuery.bucketMinutes}) the shop's metrics over one
 * time bucket: every worker's samples in it combined by the database.
 */
export interface Metrics {
  /** When the sample was taken (it covers the worker's metrics interval before it, 5 minutes by default), or when the bucket starts. */
  timestamp: Date
  /** Orders printed per hour. A bucket: each worker's mean over its samples, added up. */
  printsPerHour: number
  /** Orders failed, retried or rejected per hour (a bucket: as `printsPerHour`). */
  failuresPerHour: number
  /** Seconds from payment (or creation) to the start of printing, averaged (a bucket: weighted by prints; 0 when nothing printed). */
  averagePrintStartDelay: number
  /** Seconds the worker's printers were offline in the sample's interval (a bucket: within the bucket, every printer's added up). */
  printerOfflineDuration: number
  /** The worker that took the sample; `'*'` for a bucket. */
  workerId: string
  /** A bucket: how many samples it combines. */
  samples?: number
  /** A bucket: how many workers wrote them. */
  workers?: number
}

/** Totals of the monitor's groups. */
export interface SnapshotCounts {
  /** Paid orders waiting. */
  pending: number
  /** Orders being printed. */
  printing: number
  /** Orders printed in the last 24 hours. */
  printedLast24H: number
  /** Failed orders. */
  failed: number
}

/** The admin monitor's data. Each list stops at 500 orders; `counts` has the totals and {@link PrintCore.orders} pages through all. */
export interface Snapshot {
  /** Waiting, in the order they will print. */
  pending: PrintOrder[]
  /** Being printed. */
  printing: PrintOrder[]
  /** Printed in the last 24 hours, newest first. */
  printed: PrintOrder[]
  /** Failed, newest first. */
  failed: PrintOrder[]
  /** Every printer with its health. */
  printers: Printer[]
  /** The newest metrics sample of any worker. */
  metrics?: Metrics
  /** Totals per group. */
  counts: SnapshotCounts
  /** The database server's time of the snapshot. */
  takenAt: Date
}

/** Who takes an admin action, and why: all three are required and logged. */
export interface AdminInput {
  /** The admin's id in the website. */
  adminId: string
  /** The admin's email. */
  adminEmail: string
  /** Why: shown in the order's history. */
  reason: string
}

/** What an admin action did to one order. */
export interface AdminResult {
  /** The order. */
  orderId: string
  /** The action taken. */
  action: AdminAction
  /** The status before. */
  previousStatus?: PrintStatus
  /** The status after. */
  newStatus: PrintStatus
  /** The order had been sent to a printer (or printed): check the printer before printing it again. */
  mayHavePrinted: boolean
  /** The print job id of the attempt the action ended or started. */
  printJobId?: string
  /** A cancel or reset of an order whose job was at a printer: what the printer said. */
  printerCancel?: PrinterCancelOutcome
  /** The same, as a sentence for the admin. */
  printerCancelMessage?: string
}

/** One order of a batch admin action: its result, or why it was refused. Narrow on `ok`. */
export type BatchItem =
  | {
      /** The order. */
      orderId: string
      /** The action was applied. */
      ok: true
      /** What it did. */
      result: AdminResult
    }
  | {
      /** The order. */
      orderId: string
      /** The action was refused for this order; the others are unaffected. */
      ok: false
      /** Why. */
      error: ErrorInfo
    }

/**
 * Which orders {@link PrintCore.orders} reads. Every filter is optional and they combine. Newest
 * `createdAt` first (ties by the document's `_id`); orders without a `createdAt` date come after every
 * dated one, and only when neither `from` nor `to` is given. Each combination is served by an index.
 */
export interface OrdersQuery extends CallOptions {
  /** Only this print status, e.g. `'failed'`. Absent: every status. */
  status?: PrintStatus
  /** The website's orderId: an exact match, or, when at least 3 characters long, every orderId that starts with it (case-sensitive). Blank: no filter. */
  orderId?: string
  /** Only orders of this printer (its `printerId`). */
  printerId?: string
  /** Orders created at or after this time (`createdAt`). */
  from?: Date
  /** Orders created before this time (`createdAt`, exclusive). */
  to?: Date
  /** The previous page's `next`: the orders after its last one. */
  before?: string
  /** At most this many (default 100, at most 1000). */
  limit?: number
}

/** Which `print_logs` entries {@link PrintCore.logs} reads. */
export interface LogQuery extends CallOptions {
  /** One order's history. */
  orderId?: string
  /** Only this action. */
  action?: LogAction
  /** The previous page's `next`: entries older than its last one. */
  before?: string
  /** At most this many (default 100, at most 1000). */
  limit?: number
}

/** One page of a paged read, newest first. */
export interface Page<T> {
  /** This page's items. */
  items: T[]
  /** Pass as `before` to read the next page; `null` on the last page. */
  next: string | null
}

/** A `print_logs` entry: one per state change, whoever made it. */
export interface PrintLogEntry {
  /** The entry's `_id` as hex. */
  id: string
  /** What happened. */
  action: LogAction
  /** The order (empty for the migration's entry). */
  orderId: string
  /** The print job the entry belongs to. */
  printJobId?: string
  /** The admin who acted (admin actions). */
  adminId?: string
  /** The admin's email (admin actions). */
  adminEmail?: string
  /** The status before. */
  previousStatus?: PrintStatus
  /** The status after. */
  newStatus?: PrintStatus
  /** Why (admin actions, failures). */
  reason?: string
  /** When. */
  timestamp: Date
  /** Details of the entry (e.g. `mayHavePrinted`, the worker, counts), dates as `Date`. */
  metadata?: Readonly<Record<string, unknown>>
}

/** Which samples {@link PrintCore.metrics} reads. */
export interface MetricsQuery extends CallOptions {
  /** From this time on (default: the last 24 hours). */
  since?: Date
  /**
   * Combine every worker's samples into buckets of this many minutes (1 to 44640), computed by the
   * database; buckets are aligned to the Unix epoch (60: whole hours), and one without samples is absent.
   * Absent: every worker's samples as taken. For a chart: 24 h at 5 minutes is 288 points, 7 days at 30
   * is 336.
   */
  bucketMinutes?: number
  /** At most this many, newest first (default 1000, at most 10000). */
  limit?: number
}

/** Options of {@link PrintCore.orderFile}: the file policy the website applies (the worker's rules). */
export interface OrderFileOptions extends CallOptions {
  /** Hosts files may come from; each entry allows itself and its subdomains (the worker's `allowed_hosts`, e.g. `['res.cloudinary.com']`), on port 443 only unless the entry names a port (`'files.shop.example:8443'`). Not empty; an entry that is not a host name (a bare `com`, a wildcard, a URL) rejects with `INVALID_ARGUMENT`. */
  allowedHosts: string[]
  /** Which of the order's files (`fileURLs`, else `fileURL`), from 0 (default 0). */
  index?: number
  /** The largest file accepted, in megabytes (default 100); a bigger one rejects with `FILE_INVALID`. */
  maxMb?: number
  /** Allow plain `http://` URLs (tests; production files are https). Default false. */
  allowHttp?: boolean
  /** Allow hosts on loopback addresses (tests). Default false. */
  allowLoopback?: boolean
  /** Allow private network addresses (a file server on the shop's network); link-local addresses stay refused. Default false. */
  allowPrivate?: boolean
}

/** One file of an order, downloaded by printcore for the admin's preview. */
export interface OrderFile {
  /** The file's bytes. */
  bytes: Buffer
  /** `'application/pdf'` when the bytes are a PDF, else `'application/octet-stream'` (sniffed; the file server's own `Content-Type` is never passed on). */
  contentType: string
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string
  /** The last segment of the URL's path, decoded (no query string, no slashes). */
  fileName?: string
  /** Which of the order's files this is (from 0). */
  index: number
  /** How many files the order has. */
  count: number
}

/** Options of {@link PrintCore.migrate}. */
export interface MigrateOptions extends CallOptions {
  /** Only report what the migration would change; write nothing. */
  dryRun?: boolean
}

/** What the migration changed (or, in a dry run, would change). */
export interface MigrationResult {
  /** Nothing was written: the counts say what a real run would do. */
  dryRun: boolean
  /** Every index printcore needs, as `collection.name`. */
  indexes: string[]
  /** Indexes that did not exist before. */
  indexesCreated: string[]
  /** Indexes dropped and created again with other options (the old sparse printJobId index). */
  indexesReplaced: string[]
  /** `printStatus` / `paymentStatus` spellings rewritten, e.g. `printStatus: the string "Pending" set to "pending" on 3 order(s)`. */
  normalised: string[]
  /** Values the migration cannot map, with what to do; nothing was written for them. */
  unresolved: string[]
  /** The whole report as lines for a person. */
  summary: string[]
  /** Orders set to pending (paid, not delivered). */
  ordersMarkedPending: number
  /** Orders set to printed (delivered). */
  ordersMarkedPrinted: number
  /** Printers registered. */
  printersRegistered: number
  /** Printers updated. */
  printersUpdated: number
}

/** A live change for the monitor: re-read what it names. */
export interface MonitorEvent {
  /** An order or a printer. */
  kind: MonitorEventKind
  /** The order's orderId or the printer's printerId. */
  id: string
  /** How it changed. */
  change: MonitorChange
  /** Change streams or polling. */
  source: MonitorSource
}

/** Options of {@link PrintCore.watch}. */
export interface WatchOptions {
  /** Milliseconds between polls where change streams are not available (default 2500). */
  pollMs?: number
  /** Called when the feed fails: a broken change stream (then `onEnd` follows), or a failed poll (polling goes on). Without it, a process warning is emitted. */
  onError?: (error: PrintCoreError) => void
  /** Called once when the feed ends: after an error, or after `close()`. */
  onEnd?: () => void
  /**
   * Called once, before any event, when the feed is open: every change from then on reaches the listener.
   * A change made before it may not have: a monitor reads its snapshot now (and says it is live).
   */
  onOpen?: () => void
  /** Closes the subscription when aborted (e.g. `request.signal`). */
  signal?: AbortSignal
}

/** Options of {@link PrintCore.events}. */
export interface EventsOptions {
  /** Milliseconds between polls where change streams are not available (default 2500). */
  pollMs?: number
  /** Ends the iteration when aborted. */
  signal?: AbortSignal
}

/** A running subscription of {@link PrintCore.watch}. */
export declare class Subscription implements Disposable {
  /** @internal Made by `watch`. */
  private constructor()
  /** Stops delivering events (idempotent); `onEnd` is called. */
  close(): void
  /** Whether `close()` was called. */
  get closed(): boolean
  /** `close()`, for `using`. */
  [Symbol.dispose](): void
}

/**
 * The print queue, as the website uses it. One connection per process: get it with
 * {@link PrintCore.connect} (again on every request if you like: it is shared).
 */
export declare class PrintCore implements AsyncDisposable {
  /** @internal Use {@link PrintCore.connect}. */
  private constructor()
  /**
   * Connects to MongoDB, once per process: later calls with the same uri and database share the
   * connection, and concurrent first calls share one attempt. A failed attempt is never remembered: the
   * next call tries again. Rejects with `DATABASE` when no server answers within
   * `serverSelectionTimeoutMs`, `INVALID_ARGUMENT` for a connection string whose password must be
   * percent-encoded.
   */
  static connect(uri: string, options?: ConnectOptions): Promise<PrintCore>
  /**
   * Records the payment of an order: `paymentStatus: 'completed'`, `paidAt`, `printStatus: 'pending'`,
   * in one atomic write. An order already printing, printed, failed or cancelled is left alone.
   */
  markPaid(orderId: string, options?: MarkPaidOptions): Promise<MarkPaidResult>
  /** The monitor snapshot: pending, printing, printed in the last 24 h, failed, printers, latest metrics. */
  snapshot(options?: CallOptions): Promise<Snapshot>
  /** One order by its orderId; `NOT_FOUND` when there is none. */
  order(orderId: string, options?: CallOptions): Promise<PrintOrder>
  /**
   * Orders by status, orderId (exact, or prefix from 3 characters), printer and creation time, newest
   * first, a page at a time (e.g. all failed orders; one order among thousands by its id).
   */
  orders(query?: OrdersQuery): Promise<Page<PrintOrder>>
  /** Print a printed, failed or cancelled order again (its payment must be completed). */
  reprint(orderId: string, admin: AdminInput, options?: CallOptions): Promise<AdminResult>
  /** Print several orders again: one item per order, in the order given. */
  reprint(orderIds: readonly string[], admin: AdminInput, options?: CallOptions): Promise<BatchItem[]>
  /** Never print a pending or failed order (a job at a printer is cancelled there first). */
  cancel(orderId: string, admin: AdminInput, options?: CallOptions): Promise<AdminResult>
  /** Cancel several orders: one item per order. */
  cancel(orderIds: readonly string[], admin: AdminInput, options?: CallOptions): Promise<BatchItem[]>
  /** Take a stuck printing order back from its worker (back to pending). */
  resetState(orderId: string, admin: AdminInput, options?: CallOptions): Promise<AdminResult>
  /** Reset several orders: one item per order. */
  resetState(orderIds: readonly string[], admin: AdminInput, options?: CallOptions): Promise<BatchItem[]>
  /** Record that an order is on paper. */
  forcePrinted(orderId: string, admin: AdminInput, options?: CallOptions): Promise<AdminResult>
  /** Record several orders as printed: one item per order. */
  forcePrinted(orderIds: readonly string[], admin: AdminInput, options?: CallOptions): Promise<BatchItem[]>
  /** `print_logs` entries, newest first, by order and/or action, a page at a time. */
  logs(query?: LogQuery): Promise<Page<PrintLogEntry>>
  /** Metrics samples of every worker, newest first; with `bucketMinutes`, the shop's metrics per time bucket. */
  metrics(query?: MetricsQuery): Promise<Metrics[]>
  /**
   * Downloads one file of an order with printcore's download code and the worker's file rules
   * (`allowedHosts` and their subdomains, https only unless allowed, link-local addresses never, the
   * size cap, every redirect checked), so a preview route can send the admin's browser the bytes and
   * never a customer's URL. Rejects with `NOT_FOUND`, `INVALID_ARGUMENT` (no file at `index`, an empty
   * `allowedHosts` or an entry that is not a host name), `FILE_REJECTED` (a host, address or redirect the policy refuses; the message names
   * the order and the host), `FILE_INVALID` (no file, an error answer, over `maxMb`) or
   * `FILE_UNAVAILABLE` (transient).
   */
  orderFile(orderId: string, options: OrderFileOptions): Promise<OrderFile>
  /**
   * Creates the indexes, normalises `printStatus`/`paymentStatus` spellings and adds `printStatus` to
   * existing orders; safe to run again. `{ dryRun: true }` writes nothing and reports what it would do.
   */
  migrate(options?: MigrateOptions): Promise<MigrationResult>
  /**
   * Live monitor events. Every subscriber of a process shares one feed per connection (ten open monitor
   * tabs are one change stream per collection on the server). The feed uses change streams where the
   * database has them, polling otherwise. An open subscription does not keep the process alive.
   */
  watch(listener: (event: MonitorEvent) => void, options?: WatchOptions): Subscription
  /** The live events as an async iterator: ends when the feed ends, throws its error if it broke. */
  events(options?: EventsOptions): AsyncIterableIterator<MonitorEvent>
  /** Closes the shared connection (every handle on it): stops live feeds, waits for calls in flight, shuts the pool. */
  close(): Promise<void>
  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** `uri` with its password (and secret query options) replaced by `****`: safe to print or log. */
export declare function redactUri(uri: string): string

/** Why a connection string's password would be misread (an unencoded `@`, `/`, `?` or `#`), or `null`. */
export declare function connectionStringProblem(uri: string): string | null

/** This machine's platform as the addon packages name it, e.g. `'linux-x64-gnu'` (the package is `printcore-<platform>`). */
export declare function currentPlatform(): string
