//! A value one caller at a time may use, never waited for: a second caller
//! (another thread, or a signal) finds it busy and goes without. For state
//! kept on the side, where skipping is better than blocking PID 1.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};

const OFF: u8 = 0;
const FREE: u8 = 1;
const BUSY: u8 = 2;

pub struct Exclusive<T> {
    state: AtomicU8,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only by the caller that moved `state` from
// FREE to BUSY, one at a time.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    /// Off until [`Exclusive::turn_on`]: [`Exclusive::with`] does nothing.
    pub const fn new(value: T) -> Self {
        Exclusive {
            state: AtomicU8::new(OFF),
            value: UnsafeCell::new(value),
        }
    }

    pub fn turn_on(&self) {
        let _ = self
            .state
            .compare_exchange(OFF, FREE, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// (For the tests: callers just call [`Exclusive::with`].)
    #[cfg(test)]
    pub fn is_on(&self) -> bool {
        self.state.load(Ordering::Relaxed) != OFF
    }

    /// `f` on the value, unless it is off or in use.
    pub fn with(&self, f: impl FnOnce(&mut T)) {
        let taken = self
            .state
            .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed);
        if taken.is_ok() {
            // SAFETY: the exchange gave this caller the value alone.
            f(unsafe { &mut *self.value.get() });
            self.state.store(FREE, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_until_turned_on_and_busy_while_used() {
        let cell = Exclusive::new(0);
        cell.with(|v| *v = 1);
        assert!(!cell.is_on());
        cell.turn_on();
        cell.with(|v| {
            *v += 2;
            // A second caller meanwhile goes without.
            cell.with(|v| *v += 100);
        });
        cell.with(|v| assert_eq!(*v, 2));
    }
}
