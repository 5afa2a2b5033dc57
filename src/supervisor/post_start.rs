//! PostStart's state, one value for what the exit code and the ready file
//! need to know of it.

use crate::hooks::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostStart {
    /// There is none: readiness may say ready at once.
    NotConfigured,
    /// It waits for the startup probe (`HOOKINIT_POST_START_AFTER_STARTUP`).
    Deferred,
    Running,
    /// Readiness may say ready.
    Succeeded,
    /// The container stops, and exits with its own code.
    Failed,
    /// Ended by hookinit: the app exited or the container stops.
    Cancelled,
}

impl PostStart {
    /// The state at the app's start: `Running` means start it now.
    pub fn at_start(configured: bool, after_startup: bool, started: bool) -> PostStart {
        match (configured, after_startup && !started) {
            (false, _) => PostStart::NotConfigured,
            (true, true) => PostStart::Deferred,
            (true, false) => PostStart::Running,
        }
    }

    /// The startup probe succeeded: `Running` (start it now) if it waited.
    pub fn on_started(self) -> PostStart {
        match self {
            PostStart::Deferred => PostStart::Running,
            other => other,
        }
    }

    /// The hook ended on its own (or failed to start).
    pub fn ended(self, outcome: Outcome) -> PostStart {
        match outcome {
            Outcome::Succeeded => PostStart::Succeeded,
            Outcome::Failed => PostStart::Failed,
            Outcome::Cancelled => PostStart::Cancelled,
        }
    }

    /// hookinit ended it early (a no-op unless it runs).
    pub fn cancelled(self) -> PostStart {
        match self {
            PostStart::Running => PostStart::Cancelled,
            other => other,
        }
    }

    /// Done as far as readiness is concerned: succeeded, or there is none.
    pub fn lets_ready(self) -> bool {
        matches!(self, PostStart::NotConfigured | PostStart::Succeeded)
    }

    pub fn failed(self) -> bool {
        self == PostStart::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::PostStart::{self, *};
    use crate::hooks::Outcome;

    #[test]
    fn at_start_none_deferred_or_running() {
        assert_eq!(PostStart::at_start(false, false, false), NotConfigured);
        assert_eq!(PostStart::at_start(false, true, false), NotConfigured);
        assert_eq!(PostStart::at_start(true, true, false), Deferred);
        assert_eq!(PostStart::at_start(true, true, true), Running);
        assert_eq!(PostStart::at_start(true, false, false), Running);
    }

    #[test]
    fn startup_success_starts_only_a_deferred_hook() {
        assert_eq!(Deferred.on_started(), Running);
        for state in [NotConfigured, Running, Succeeded, Failed, Cancelled] {
            assert_eq!(state.on_started(), state);
        }
    }

    #[test]
    fn the_hooks_outcome_decides() {
        assert_eq!(Running.ended(Outcome::Succeeded), Succeeded);
        assert_eq!(Running.ended(Outcome::Failed), Failed);
        assert_eq!(Running.ended(Outcome::Cancelled), Cancelled);
    }

    #[test]
    fn cancelling_touches_only_a_running_hook() {
        assert_eq!(Running.cancelled(), Cancelled);
        for state in [NotConfigured, Deferred, Succeeded, Failed, Cancelled] {
            assert_eq!(state.cancelled(), state);
        }
    }

    #[test]
    fn ready_only_without_one_or_after_success() {
        let all = [
            NotConfigured,
            Deferred,
            Running,
            Succeeded,
            Failed,
            Cancelled,
        ];
        let ready: Vec<_> = all.into_iter().filter(|s| s.lets_ready()).collect();
        assert_eq!(ready, [NotConfigured, Succeeded]);
        let failed: Vec<_> = all.into_iter().filter(|s| s.failed()).collect();
        assert_eq!(failed, [Failed]);
    }
}
