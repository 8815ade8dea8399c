//! Batches: batched commands (`Command::batched`: usage posts, of any org)
//! are applied together and made durable together. The queue's leader
//! takes the oldest waiting commands, applies them in one sled transaction
//! (`Store::transact_each`), flushes it to disk, and only then answers
//! them; commands that arrive meanwhile wait for the next batch. Under load
//! a batch is whatever arrived during the previous one: one transaction and
//! one flush for many commands, and no conflicts between them (every usage
//! post writes the system account `credits spent`, so concurrent
//! transactions would conflict). Every command of a batch is still all or
//! nothing, with its own audit and idempotency records and its own answer:
//! one that fails writes nothing and gets its own error, the others commit.
//!
//! The leader runs only while commands wait: it is the caller that found
//! the queue idle (on its own thread), or a blocking task the server starts
//! for it, so a server's callers wait for their batch without holding a
//! thread each. The queue knows its commands only as `BatchMember`s: what they
//! are is the command layer's.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::{BatchBody, Store, Tx, TxResult};
use crate::error::Error;

/// The most commands one batch applies: bounds a transaction's size and
/// how long the commands in it wait for each other.
pub const MAX_BATCH_COMMANDS: usize = 128;
/// The most commands waiting for a batch (32 full batches); beyond it a
/// command gets a 429 `batch_queue_full` rather than queueing without
/// bound.
pub const MAX_WAITING_COMMANDS: usize = 32 * MAX_BATCH_COMMANDS;

/// One command of a batch, as the queue knows it.
pub trait BatchMember: Send + Sync {
    /// Writes the command on `tx` (its own layer of the batch's
    /// transaction); may run more than once (sled retries on conflict).
    fn write(&self, tx: &Tx, now: OffsetDateTime) -> TxResult<()>;
    /// The batch is over: `None` if this command's writes are committed
    /// and on disk, else why they are not.
    fn finish(&self, aborted: Option<Error>);
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Arc<dyn BatchMember>>,
    /// A leader is working through the queue (then `waiting` may fill).
    busy: bool,
}

/// The batch queue of one `App`.
#[derive(Default)]
pub struct Batches {
    queue: Mutex<Queue>,
}

impl Batches {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The queue is changed whole under the lock: a panic cannot tear it.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commands waiting for a batch now.
    pub fn waiting(&self) -> usize {
        self.queue().waiting.len()
    }

    /// Queues `member`. Returns whether the queue was idle: the caller must
    /// then see that [`Batches::lead`] runs.
    pub fn enqueue(&self, member: Arc<dyn BatchMember>) -> Result<bool, Error> {
        let mut queue = self.queue();
        if queue.waiting.len() >= MAX_WAITING_COMMANDS {
            return Err(Error::Busy {
                code: "batch_queue_full",
                message: format!(
                    "{MAX_WAITING_COMMANDS} commands already wait for their batch \
                     (MAX_WAITING_COMMANDS); retry later"
                ),
            });
        }
        queue.waiting.push_back(member);
        Ok(!std::mem::replace(&mut queue.busy, true))
    }

    /// Applies the waiting commands, a batch at a time, until none waits.
    pub fn lead(&self, store: &Store) {
        loop {
            let batch: Vec<Arc<dyn BatchMember>> = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    queue.busy = false;
                    return;
                }
                let size = queue.waiting.len().min(MAX_BATCH_COMMANDS);
                queue.waiting.drain(..size).collect()
            };
            // A panic past `apply`'s own guard (a bug) must not leave the
            // queue busy: the batch's unanswered commands are dropped (their
            // callers get an internal error) and the queue goes on.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let aborted = apply(store, &batch);
                for (member, aborted) in batch.iter().zip(aborted) {
                    member.finish(aborted);
                }
            }));
        }
    }
}

/// Runs the batch in one transaction and flushes it; each command's abort
/// error (`None`: committed and on disk). If the transaction fails, or a
/// command panics (a bug: the transaction then writes nothing), every
/// command gets why; if the flush fails, every committed one does. Either
/// way the queue goes on: its waiting commands must not wait forever.
fn apply(store: &Store, batch: &[Arc<dyn BatchMember>]) -> Vec<Option<Error>> {
    let now = OffsetDateTime::now_utc();
    let bodies: Vec<_> = batch
        .iter()
        .map(|member| move |tx: &Tx| member.write(tx, now))
        .collect();
    let bodies: Vec<BatchBody> = bodies.iter().map(|b| b as _).collect();
    let failure = match std::panic::catch_unwind(AssertUnwindSafe(|| store.transact_each(&bodies)))
    {
        Ok(Ok(aborted)) => {
            return match store.flush_blocking() {
                Ok(()) => aborted,
                Err(e) => {
                    let failure = Error::Storage(format!("flush failed: {e}"));
                    let own = |aborted: Option<Error>| aborted.or_else(|| Some(copy(&failure)));
                    aborted.into_iter().map(own).collect()
                }
            };
        }
        Ok(Err(e)) => e,
        Err(_) => Error::Internal("a command of this batch panicked; nothing was written".into()),
    };
    batch.iter().map(|_| Some(copy(&failure))).collect()
}

/// The same failure for another command (errors are not `Clone`).
fn copy(failure: &Error) -> Error {
    match failure {
        Error::Internal(message) => Error::Internal(message.clone()),
        Error::Storage(message) => Error::Storage(message.clone()),
        other => Error::Storage(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEFAULT_CACHE_BYTES;

    /// A command that writes one key, or panics (a bug) while staging or
    /// while being answered.
    struct Put {
        key: &'static [u8],
        panics: bool,
        panics_when_answered: bool,
        finished: Mutex<Option<Option<String>>>,
    }

    impl Put {
        fn new(key: &'static [u8], panics: bool) -> Arc<Put> {
            Arc::new(Put {
                key,
                panics,
                panics_when_answered: false,
                finished: Mutex::new(None),
            })
        }

        /// `Some(None)`: committed; `Some(Some(why))`: failed; `None`: waiting.
        fn finished(&self) -> Option<Option<String>> {
            self.finished.lock().unwrap().clone()
        }
    }

    impl BatchMember for Put {
        fn write(&self, tx: &Tx, _now: OffsetDateTime) -> TxResult<()> {
            assert!(!self.panics, "a bug in a command");
            tx.put_raw(self.key, b"written")
        }

        fn finish(&self, aborted: Option<Error>) {
            assert!(!self.panics_when_answered, "a bug in answering");
            *self.finished.lock().unwrap() = Some(aborted.map(|e| e.to_string()));
        }
    }

    /// A store in a temp dir, and an idle queue.
    fn fixture() -> (tempfile::TempDir, Store, Batches) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).unwrap();
        (dir, store, Batches::default())
    }

    /// The queue is idle again and commits the next command.
    fn assert_queue_goes_on(batches: &Batches, store: &Store) {
        let after = Put::new(b"after", false);
        assert!(
            batches.enqueue(after.clone()).unwrap(),
            "the queue is idle again"
        );
        batches.lead(store);
        assert_eq!(after.finished(), Some(None));
        assert_eq!(&*store.get_raw(b"after").unwrap().unwrap(), b"written");
    }

    #[test]
    fn a_panic_while_answering_does_not_leave_the_queue_busy() {
        let (_dir, store, batches) = fixture();
        let buggy = Arc::new(Put {
            key: b"buggy",
            panics: false,
            panics_when_answered: true,
            finished: Mutex::new(None),
        });
        assert!(batches.enqueue(buggy).unwrap());
        batches.lead(&store);

        assert_queue_goes_on(&batches, &store);
    }

    #[test]
    fn a_panicking_command_fails_its_batch_and_the_queue_goes_on() {
        let (_dir, store, batches) = fixture();
        let (sound, buggy) = (Put::new(b"sound", false), Put::new(b"buggy", true));
        assert!(
            batches.enqueue(sound.clone()).unwrap(),
            "an idle queue needs a leader"
        );
        assert!(
            !batches.enqueue(buggy.clone()).unwrap(),
            "a busy queue has one"
        );
        assert_eq!(sound.finished(), None);

        batches.lead(&store);
        for put in [&sound, &buggy] {
            let why = put.finished().expect("answered").expect("failed");
            assert!(why.contains("panicked; nothing was written"), "{why}");
        }
        assert_eq!(store.get_raw(b"sound").unwrap(), None);

        assert_queue_goes_on(&batches, &store);
    }

    #[test]
    fn a_full_queue_refuses_more_commands() {
        let (_dir, store, batches) = fixture();
        for _ in 0..MAX_WAITING_COMMANDS {
            batches.enqueue(Put::new(b"k", false)).unwrap();
        }
        match batches.enqueue(Put::new(b"k", false)) {
            Err(Error::Busy { code, .. }) => assert_eq!(code, "batch_queue_full"),
            other => panic!(
                "expected batch_queue_full, got {:?}",
                other.map_err(|e| e.to_string())
            ),
        }
        batches.lead(&store);
        assert_queue_goes_on(&batches, &store);
    }
}
