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
}

impl ServerClock {
    /// Measures the offset with one `hello`. A server that does not report `localTime` leaves it at zero.
    pub async fn sync(&self, db: &Database) -> Result<()> {
        let before = DateTime::now().timestamp_millis();
        let reply = db.run_command(doc! { "hello": 1 }).await.map_err(Error::db("reading the server clock"))?;
        let after = DateTime::now().timestamp_millis();
        if let Ok(server) = reply.get_datetime("localTime") {
            let local = before + (after - before) / 2;
            self.offset_ms.store(server.timestamp_millis() - local, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The server's time now, as estimated from the last sync.
    pub fn now(&self) -> DateTime {
        DateTime::from_millis(DateTime::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed))
    }

    /// The measured offset (server minus local), in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the offset by hand (tests use it to play a print PC whose clock is wrong).
    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed);
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
