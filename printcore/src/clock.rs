//! The database server's clock. Leases and backoffs are compared by different print PCs, whose clocks may
//! be minutes apart; measured against one clock (the server's) they agree. `$$NOW` in a pipeline update
//! would do the same on a real MongoDB, but it is not accepted everywhere, so the offset is measured with
//! `hello`'s `localTime` instead and every time printcore writes is `local clock + offset`.

use crate::error::{Error, Result};
use bson::{doc, DateTime};
use mongodb::Database;
use std::sync::atomic::{AtomicI64, Ordering};

/// The offset between this machine's clock and the database server's, in milliseconds.
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: AtomicI64,
    /// Whether a sample was ever taken (the first is kept whatever its round trip).
    synced: std::sync::atomic::AtomicBool,
    /// The latest time handed out: `now()` never goes back, so one process's log entries keep their order
    /// when a new sample moves the offset back.
    last_ms: AtomicI64,
}

/// A `hello` slower than this gives an offset too uncertain to use (a server restarting, a congested
/// link): the previous offset is kept.
const MAX_SAMPLE_RTT_MS: i64 = 250;

impl ServerClock {
    /// Measures the offset with one `hello`. A server that does not report `localTime` leaves it at zero.
    pub async fn sync(&self, db: &Database) -> Result<()> {
        let before = DateTime::now().timestamp_millis();
        let reply = db.run_command(doc! { "hello": 1 }).await.map_err(Error::db("reading the server clock"))?;
        let after = DateTime::now().timestamp_millis();
        if let Ok(server) = reply.get_datetime("localTime") {
            let rtt = after - before;
            if rtt <= MAX_SAMPLE_RTT_MS || !self.synced.load(Ordering::Relaxed) {
                let local = before + rtt / 2;
                self.offset_ms.store(server.timestamp_millis() - local, Ordering::Relaxed);
                self.synced.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The server's time now, as estimated from the last sync.
    pub fn now(&self) -> DateTime {
        let estimate = DateTime::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed);
        let previous = self.last_ms.fetch_max(estimate, Ordering::Relaxed);
        DateTime::from_millis(estimate.max(previous))
    }

    /// The measured offset (server minus local), in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the offset by hand (tests use it to move time on). Moving it back also resets the
    /// never-go-back guard of [`ServerClock::now`].
    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.synced.store(true, Ordering::Relaxed);
        self.last_ms.store(0, Ordering::Relaxed);
    }
}

/// `t + d` on the server clock.
pub(crate) fn add(t: DateTime, d: std::time::Duration) -> DateTime {
    DateTime::from_millis(t.timestamp_millis().saturating_add(d.as_millis() as i64))
}

/// `t - d` on the server clock.
pub(crate) fn sub(t: DateTime, d: std::time::Duration) -> DateTime {
    DateTime::from_millis(t.timestamp_millis().saturating_sub(d.as_millis() as i64))
}
