//! What one printer is doing now, read from the database for a person at the print PC (`worker status`),
//! and the two cheap reads the worker's health endpoint uses: the queue's depth and a round trip to the
//! database. Every read here is served by an index (see each function); none writes.

use crate::db::PrintCore;
use crate::error::{Error, Result};
use crate::model::{Order, PrintStatus, Printer, PrinterCapabilities};
use bson::{doc, Document};
use std::time::{Duration, Instant};

/// How many orders [`PrintCore::printer_activity`] lists of those waiting for a printer (`waiting` counts
/// them all).
pub const NEXT_WAITING: i64 = 5;
/// How many of a printer's orders in `printing` [`PrintCore::printer_activity`] lists.
pub const AT_PRINTER_LIMIT: i64 = 20;
/// Without a recorded last print, how far back [`PrintCore::printer_activity`] looks for one (it never
/// reads every printed order of the shop for a printer that has not printed).
pub const LAST_PRINT_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// One printer's activity as the database has it.
#[derive(Debug, Clone)]
pub struct PrinterActivity {
    /// The printer asked about.
    pub printer_id: String,
    /// The printer's document (state, reasons, message, last seen, the worker that last read it); `None`
    /// when no worker has recorded it yet (`worker migrate` registers it, the first health pass writes it).
    pub printer: Option<Printer>,
    /// When a worker last recorded a health reading of it (every `health_interval_secs` while one runs).
    pub health_checked_at: Option<bson::DateTime>,
    /// Orders this printer is printing (claimed for it, newest first): the job at the printer is the one
    /// with a `printerJobRef`; `printWaitReason` says why it waits there.
    pub printing: Vec<Order>,
    /// Orders the claim for this printer would take now (paid, pending, not scheduled, within its
    /// capabilities).
    pub waiting: u64,
    /// The first of them, in the order they will print (at most [`NEXT_WAITING`]).
    pub next: Vec<Order>,
    /// The order it printed last.
    pub last_printed: Option<Order>,
    /// The newest failed order of this printer (by `createdAt`), with its `printError`.
    pub last_failed: Option<Order>,
}

/// The index the last print is read on: newest completion first, so the read examines only the orders the
/// shop printed since the printer's recorded last print.
const LAST_PRINT_INDEX: &str = "printStatus_printCompletedAt";

/// The shop's queue as the health endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Paid orders waiting to print (`pending`, scheduled ones included).
    pub pending: u64,
    /// Orders being printed by any worker.
    pub printing: u64,
}

impl PrintCore {
    /// The newest order matching `filter` (a printer's printed orders since a time) by `printCompletedAt`,
    /// on [`LAST_PRINT_INDEX`]; without the hint on a database the migration has not prepared.
    async fn last_print(&self, filter: Document) -> Result<Option<Order>> {
        let read = |hinted: bool| {
            let mut find = self
                .inner
                .orders
                .find_one(filter.clone())
                .projection(doc! { crate::audit::OUTBOX_FIELD: 0 })
                .sort(doc! { "printCompletedAt": -1 });
            if hinted {
                find = find.hint(mongodb::options::Hint::Name(LAST_PRINT_INDEX.into()));
            }
            std::future::IntoFuture::into_future(find)
        };
        let found = match read(true).await {
            Ok(d) => d,
            Err(_) => read(false).await.map_err(Error::db("reading a printer's last print"))?,
        };
        found.map(crate::queue::parse_order).transpose()
    }

    /// One round trip to the database server (`ping`), timed.
    pub async fn ping(&self) -> Result<Duration> {
        let started = Instant::now();
        self.inner.db.run_command(doc! { "ping": 1 }).await.map_err(Error::db("pinging the database"))?;
        Ok(started.elapsed())
    }

    /// How many paid orders wait and how many print, each counted on an index's prefix
    /// (`printStatus_paymentStatus_createdAt`, `printStatus_createdAt_desc`) without reading an order.
    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let pending = self
            .inner
            .orders
            .count_documents(doc! { "printStatus": PrintStatus::Pending.as_str(), "paymentStatus": "completed" });
        let printing = self.inner.orders.count_documents(doc! { "printStatus": PrintStatus::Printing.as_str() });
        let (pending, printing) = futures::try_join!(
            std::future::IntoFuture::into_future(pending),
            std::future::IntoFuture::into_future(printing)
        )
        .map_err(Error::db("counting the queue"))?;
        Ok(QueueDepth { pending, printing })
    }

    /// What `printer_id` is doing now: its recorded state, the orders it is printing, the orders waiting
    /// for it (judged by `capabilities`, else those recorded for it), its last print and last failure.
    /// The orders waiting are counted with the claim's own filter on the claim's index; the printing and
    /// failed ones are read on `printerId_printStatus_createdAt_id`; the last print on
    /// `printStatus_printCompletedAt`, from the printer's recorded last successful print on (or the last
    /// [`LAST_PRINT_LOOKBACK`] when none is recorded).
    pub async fn printer_activity(
        &self,
        printer_id: &str,
        capabilities: Option<&PrinterCapabilities>,
    ) -> Result<PrinterActivity> {
        let checked = async {
            let d = self
                .inner
                .printers
                .find_one(doc! { "printer_id": printer_id })
                .projection(doc! { "health_checked_at": 1 })
                .await
                .map_err(Error::db(format!("reading printer {printer_id}")))?;
            Ok::<_, Error>(d.and_then(|d| d.get_datetime("health_checked_at").ok().copied()))
        };
        let (printer, health_checked_at) = futures::try_join!(self.printer(printer_id), checked)?;
        let caps = capabilities.cloned().or_else(|| printer.as_ref().and_then(|p| p.capabilities.clone()));
        let mut query = crate::queue::claim_query(caps.as_ref());
        query.filter.insert(crate::queue::SKIP_FIELD, doc! { "$ne": printer_id });
        let of_printer = |status: PrintStatus| doc! { "printerId": printer_id, "printStatus": status.as_str() };
        let newest_first = doc! { "createdAt": -1, "_id": -1 };
        let since = printer
            .as_ref()
            .and_then(|p| p.last_successful_print_at)
            .unwrap_or_else(|| crate::db::clock::sub(self.now(), LAST_PRINT_LOOKBACK));
        let mut last_print_filter = of_printer(PrintStatus::Printed);
        last_print_filter.insert("printCompletedAt", doc! { "$gte": since });
        let waiting = self.inner.orders.count_documents(query.filter.clone());
        let (waiting, printing, next, last_printed, last_failed) = futures::try_join!(
            async { std::future::IntoFuture::into_future(waiting).await.map_err(Error::db("counting waiting orders")) },
            self.find_orders(
                of_printer(PrintStatus::Printing),
                Some(newest_first.clone()),
                AT_PRINTER_LIMIT,
                "reading the orders a printer prints"
            ),
            self.find_orders(query.filter.clone(), Some(query.sort.clone()), NEXT_WAITING, "reading waiting orders"),
            self.last_print(last_print_filter),
            self.find_orders(
                of_printer(PrintStatus::Failed),
                Some(newest_first),
                1,
                "reading a printer's last failure"
            ),
        )?;
        Ok(PrinterActivity {
            printer_id: printer_id.to_owned(),
            printer,
            health_checked_at,
            printing,
            waiting,
            next: next.into_iter().take(NEXT_WAITING as usize).collect(),
            last_printed: last_printed.into_iter().next(),
            last_failed: last_failed.into_iter().next(),
        })
    }
}
