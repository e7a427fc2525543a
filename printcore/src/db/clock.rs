//! The database server's clock. Leases and backoffs are compared by different print PCs, whose clocks may
//! be minutes apart; measured against one clock (the server's) they agree. `$$NOW` in a pipeline update
//! would do the same on a real MongoDB, but it is not accepted everywhere, so the offset is measured with
//! `hello`'s `localTime` instead and every time printcore writes is `local clock + offset`.

use crate::error::{Error, Result};
use bson::{doc, DateTime};
use mongodb::Database;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Milliseconds on this machine's monotonic clock, counting time the machine was suspended where the
/// system can (Linux `CLOCK_BOOTTIME`), so a PC that slept for an hour finds an hour gone; elsewhere the
/// standard monotonic clock from the first call. Never the wall clock.
pub fn monotonic_ms() -> i64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec it is given; CLOCK_BOOTTIME exists since Linux 2.6.39.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
            // time_t and c_long are i32 on some 32-bit targets.
            #[allow(clippy::unnecessary_cast)]
            return ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000;
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as i64
}

/// The database server's time, estimated from the last sample of it plus the time elapsed since on this
/// machine's monotonic clock. The local wall clock is never used: a print PC that boots hours behind and
/// is then stepped forward by NTP (or by hand) changes nothing, because the estimate moves only with
/// elapsed time, which a wall-clock step does not change.
///
/// Which sample: the one whose error is smallest now, out of the last [`SAMPLES`]. A sample's error is half
/// its round trip (the server read its clock somewhere in it) plus what this machine's monotonic clock may
/// have drifted since ([`MAX_DRIFT_PPM`]; Windows' can run seconds a day off). So a fast sample is kept over
/// slow ones while it is fresh, and a database far away (every round trip slow) is sampled again and again
/// instead of its first sample being kept for ever. [`ServerClock::error_ms`] says the bound.
#[derive(Debug)]
pub struct ServerClock {
    /// The last samples: the server's time, the [`monotonic_ms`] it corresponds to (the middle of the
    /// `hello` round trip) and the round trip. Empty until the first sample.
    samples: Mutex<std::collections::VecDeque<Sample>>,
    /// Milliseconds added by hand (tests move time on with it).
    shift_ms: AtomicI64,
    /// The latest time handed out: `now()` never goes back, so one process's log entries keep their order
    /// when a new sample moves the estimate back.
    last_ms: AtomicI64,
}

impl Default for ServerClock {
    fn default() -> Self {
        ServerClock {
            samples: Mutex::new(std::collections::VecDeque::new()),
            shift_ms: AtomicI64::new(0),
            last_ms: AtomicI64::new(0),
        }
    }
}

/// One reading of the server's clock.
#[derive(Debug, Clone, Copy)]
struct Sample {
    server_ms: i64,
    mid: i64,
    rtt: i64,
}

impl Sample {
    /// How far off an estimate from this sample may be at monotonic `at`.
    fn error_at(&self, at: i64) -> i64 {
        self.rtt / 2 + (at - self.mid).abs().saturating_mul(MAX_DRIFT_PPM) / 1_000_000
    }
}

/// A `hello` slower than this is asked again at once (a server restarting); it is still a sample, used
/// while no better one is.
const MAX_SAMPLE_RTT_MS: i64 = 250;
/// How many recent samples the estimate chooses from.
pub const SAMPLES: usize = 16;
/// How fast this machine's monotonic clock may drift from the server's, in parts per million (quartz
/// clocks are within 100; Windows' can be worse): an old sample's error grows by this much.
pub const MAX_DRIFT_PPM: i64 = 200;

impl ServerClock {
    /// Takes one sample of the server's clock with `hello`. A server that does not report `localTime`
    /// leaves the clock as it was (on this machine's wall clock until a first sample).
    pub async fn sync(&self, db: &Database) -> Result<()> {
        self.sync_with(|| async {
            let reply = db.run_command(doc! { "hello": 1 }).await.map_err(Error::db("reading the server clock"))?;
            Ok(reply.get_datetime("localTime").ok().map(|t| t.timestamp_millis()))
        })
        .await
    }

    /// [`ServerClock::sync`] with the server's clock read by `read` (`None`: the server does not say).
    /// A slow answer is asked again at once, a few times: the first sample of a process started while its
    /// database was away comes after the driver waited for the server, and taken alone it would put this
    /// estimate ahead by half that wait (leases of live workers would look expired, sent jobs older than
    /// they are).
    pub async fn sync_with<F, Fut>(&self, mut read: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<i64>>>,
    {
        for _ in 0..3 {
            let before = monotonic_ms();
            let Some(server_ms) = read().await? else { return Ok(()) };
            if self.record_sample(before, monotonic_ms(), server_ms) {
                break;
            }
        }
        Ok(())
    }

    /// Records a sample: the server said `server_ms` during the round trip from `before` to `after`
    /// ([`monotonic_ms`]). Kept when the round trip is short enough to trust, or when it is the first.
    /// Returns whether it was short enough to trust.
    pub fn record_sample(&self, before: i64, after: i64, server_ms: i64) -> bool {
        let rtt = (after - before).max(0);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(Sample { server_ms, mid: before + rtt / 2, rtt });
        rtt <= MAX_SAMPLE_RTT_MS
    }

    /// The sample with the smallest error at monotonic `at`, and that error.
    fn best_at(&self, at: i64) -> Option<(Sample, i64)> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().map(|s| (*s, s.error_at(at))).min_by_key(|(s, e)| (*e, -s.mid))
    }

    /// How far off [`ServerClock::now`] may be from the server's clock, in milliseconds (half the chosen
    /// sample's round trip plus the drift allowed since it); `None` before the first sample.
    pub fn error_ms(&self) -> Option<i64> {
        self.best_at(monotonic_ms()).map(|(_, e)| e)
    }

    /// The server's time now: the last sample plus the monotonic time elapsed since it.
    pub fn now(&self) -> DateTime {
        self.now_at(monotonic_ms())
    }

    /// The server's time at [`monotonic_ms`] `at` (never before the last time handed out).
    pub fn now_at(&self, at: i64) -> DateTime {
        let estimate = match self.best_at(at) {
            Some((s, _)) => s.server_ms + (at - s.mid).max(0),
            None => DateTime::now().timestamp_millis(),
        } + self.shift_ms.load(Ordering::Relaxed);
        let previous = self.last_ms.fetch_max(estimate, Ordering::Relaxed);
        DateTime::from_millis(estimate.max(previous))
    }

    /// The estimate's offset from this machine's wall clock (server minus local), in milliseconds: for
    /// display only, nothing is computed from it.
    pub fn offset_ms(&self) -> i64 {
        self.now().timestamp_millis() - DateTime::now().timestamp_millis()
    }

    /// Moves the estimate by `ms` (tests use it to move time on). Moving it back also resets the
    /// never-go-back guard of [`ServerClock::now`].
    pub fn shift_ms(&self, ms: i64) {
        self.shift_ms.fetch_add(ms, Ordering::Relaxed);
        if ms < 0 {
            self.last_ms.store(0, Ordering::Relaxed);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_step_on_this_machine_changes_nothing() {
        let clock = ServerClock::default();
        let t0 = 5_000;
        let server_ms = 1_800_000_000_000;
        clock.record_sample(t0, t0 + 20, server_ms);
        // Ten seconds later on the monotonic clock: ten seconds later on the server, whatever the wall
        // clock of this machine did meanwhile (a boot hours behind, then an NTP step forward): the wall
        // clock is not read at all once a sample exists.
        assert_eq!(clock.now_at(t0 + 10_010).timestamp_millis(), server_ms + 10_000);
    }

    #[test]
    fn a_slow_sample_is_ignored_and_time_never_goes_back() {
        let clock = ServerClock::default();
        let t0 = 5_000;
        clock.record_sample(t0, t0 + 10, 1_000_000);
        // A sample with a 2 s round trip (a restarting server) would move the estimate by up to a second.
        clock.record_sample(t0 + 5_000, t0 + 7_000, 900_000);
        let at = t0 + 8_000;
        assert_eq!(clock.now_at(at).timestamp_millis(), 1_000_000 + 8_000 - 5);
        // A good sample that moves the estimate back does not move `now` back.
        clock.record_sample(at, at + 10, 1_000_000);
        assert!(clock.now_at(at + 20).timestamp_millis() >= 1_000_000 + 8_000 - 5);
    }

    #[tokio::test]
    async fn a_first_sample_taken_while_the_server_came_back_is_taken_again() {
        // The first answer comes after a 1 s wait for the server (the server read its clock at the end of
        // it); the second at once. Server time is this machine's monotonic clock plus an offset.
        let offset = 1_000_000_000;
        let clock = ServerClock::default();
        let mut calls = 0;
        clock
            .sync_with(|| {
                calls += 1;
                let slow = calls == 1;
                async move {
                    if slow {
                        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
                    }
                    Ok(Some(monotonic_ms() + offset))
                }
            })
            .await
            .unwrap();
        assert_eq!(calls, 2, "the slow sample was taken again");
        let error = clock.now().timestamp_millis() - (monotonic_ms() + offset);
        assert!(error.abs() <= MAX_SAMPLE_RTT_MS, "the estimate is off by {error} ms");
    }

    /// Issue 23 item 8: a database far away answers every `hello` in 400 ms. Before, the first sample was
    /// kept for ever, so a monotonic clock running 5 s slow over ten minutes moved leases by 5 s; now each
    /// fresh sample is used once older ones have drifted past it, and the error is bounded and said.
    #[test]
    fn a_far_away_database_is_followed_sample_by_sample_with_a_bounded_error() {
        let clock = ServerClock::default();
        clock.record_sample(0, 400, 1_000_000);
        // Ten minutes later on this machine; the server's clock says 5 s more than that.
        let later = 600_000;
        clock.record_sample(later, later + 400, 1_000_000 + 600_000 + 5_000);
        let at = later + 600;
        assert_eq!(clock.now_at(at).timestamp_millis(), 1_605_000 + 400, "the fresh sample is used");
        let (_, error) = clock.best_at(at).unwrap();
        assert_eq!(error, 200, "half the round trip, and no drift yet");
        // An hour without a new sample: the bound grows by the drift allowed (200 ppm: 0.72 s an hour).
        let (_, error) = clock.best_at(later + 3_600_000).unwrap();
        assert!((900..=1000).contains(&error), "{error}");
        // A fast sample beats slow ones while it is fresh, and gives way to them once it has aged.
        let fast = ServerClock::default();
        fast.record_sample(0, 10, 5_000);
        fast.record_sample(1_000, 1_400, 6_300);
        assert_eq!(fast.now_at(1_500).timestamp_millis(), 5_000 + 1_495, "the fast sample, 1 s old");
        let old = ServerClock::default();
        old.record_sample(0, 10, 5_000);
        old.record_sample(3_600_000, 3_600_400, 3_606_000);
        assert_eq!(old.now_at(3_600_400).timestamp_millis(), 3_606_000 + 200, "the fresh slow sample");
    }

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(monotonic_ms() >= a + 20);
    }
}
