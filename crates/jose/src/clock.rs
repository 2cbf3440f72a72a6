//! The time that every date Ostiary stamps or checks is read from: the system clock, moved by a
//! correction. Nodes that share a PostgreSQL database set the correction to the difference between
//! the database's clock and their own (`ostiary_store::Store::measure_clock`), so that nodes whose
//! clocks drift apart still agree on when a code, a session or a token ends. With no correction
//! set, this is the system clock.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// Milliseconds to add to the system clock's readings.
static CORRECTION_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the epoch by the system clock, uncorrected: for measuring the correction.
pub fn system_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
}

/// Milliseconds since the epoch, corrected.
pub fn now_millis() -> i64 {
    system_millis().saturating_add(CORRECTION_MS.load(Relaxed))
}

/// Microseconds since the epoch, corrected.
pub fn now_micros() -> i64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2));
    micros.saturating_add(CORRECTION_MS.load(Relaxed).saturating_mul(1000))
}

/// Seconds since the epoch, corrected (a JWT's NumericDate).
pub fn now() -> i64 {
    now_millis().div_euclid(1000)
}

/// From now on, reads are moved by `millis` (the reference clock minus the system clock).
pub fn correct_by(millis: i64) {
    CORRECTION_MS.store(millis, Relaxed);
}

/// The correction in force, in milliseconds.
pub fn correction() -> i64 {
    CORRECTION_MS.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_moves_every_reading_and_can_be_taken_back() {
        let before = now();
        correct_by(-600_000);
        assert_eq!(correction(), -600_000);
        let moved = now();
        assert!(
            (before - 601..=before - 599).contains(&moved),
            "{before} {moved}"
        );
        assert!((now_millis() - (system_millis() - 600_000)).abs() < 1_000);
        correct_by(0);
        assert!((now() - before).abs() <= 1);
    }
}
