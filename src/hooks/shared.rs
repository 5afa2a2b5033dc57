//! The shared slot (PostStart, the pre-start steps, post-stop: never at
//! the same time) and what hooks are told: the parts of [`Hooks`] that
//! only the lifecycle's ends use.

use super::{Context, HookKind, Hooks, Running, Work};

impl Hooks {
    /// The hook in the shared slot now (PostStart, a pre-start step or
    /// post-stop): the kind of the first outcome of [`Hooks::on_time`].
    pub fn shared_kind(&self) -> HookKind {
        self.slots[0].kind
    }

    /// Puts the next pre-start step in the `PreStart` slot (its plan was
    /// made at start-up: nothing is allocated); false when none is left.
    /// PostStart's plan waits meanwhile, and is back once none is left.
    pub fn next_pre_start(&mut self) -> bool {
        let slot = &mut self.slots[0];
        slot.stop();
        // Swapped with what is empty then (nothing to drop): the parking
        // place before, the slot once no step is left.
        if slot.kind == HookKind::PostStart {
            std::mem::swap(&mut self.parked, &mut slot.plan);
        }
        (slot.kind, slot.plan) = (HookKind::PreStart, self.pre_start.pop());
        if slot.plan.is_none() {
            slot.kind = HookKind::PostStart;
            std::mem::swap(&mut slot.plan, &mut self.parked);
            return false;
        }
        true
    }

    /// Sends `sig` to a running exec hook's process group (it may end
    /// cleanly); false if `kind` runs no command (nothing of its own to
    /// finish: end it instead).
    pub fn terminate(&mut self, kind: HookKind, sig: i32) -> bool {
        match self.slot(kind).and_then(|s| s.running.as_ref()) {
            Some(Running {
                work: Work::Exec(pid),
                ..
            }) => crate::os::process::kill_process_group(*pid, sig).is_ok(),
            _ => false,
        }
    }

    /// What the next PreStop, post-stop or reload run is told.
    pub fn tell(&mut self, ctx: Context) {
        self.context = Some(ctx);
    }
}
