//! Finding the rows PostgreSQL refuses for good, so that one run's bad data never holds
//! back the others written with it.
//!
//! A batch is written in one statement. When PostgreSQL refuses it for a reason that
//! passes (the server is unreachable, a deadlock), the same batch is tried again later.
//! When it refuses it for good (a data exception, a constraint, an error a trigger
//! raised), the batch is split in halves and each half written on its own, down to the
//! single items it refuses; those are handed back to the caller, which closes them some
//! other way. A single item is tried twice before it counts as refused, in case its
//! error was one that passes but was not recognised as such.
//!
//! Each part is one transaction: written whole or not at all. Progress survives an error
//! that passes: the caller keeps the [`Isolation`] and runs it again, and only what is
//! left is written.

use std::collections::VecDeque;
use std::future::Future;

/// Items still to write, in parts, and those refused for good.
#[derive(Debug)]
pub(super) struct Isolation<T> {
    parts: VecDeque<Part<T>>,
    refused: Vec<(T, db::Error)>,
}

#[derive(Debug)]
struct Part<T> {
    items: Vec<T>,
    /// A single item refused once already.
    tried: bool,
}

impl<T: Clone> Isolation<T> {
    /// All of `items`, to be written as one part first.
    pub(super) fn new(items: Vec<T>) -> Isolation<T> {
        let mut parts = VecDeque::new();
        if !items.is_empty() {
            parts.push_back(Part {
                items,
                tried: false,
            });
        }
        Isolation {
            parts,
            refused: Vec::new(),
        }
    }

    /// How many items are still to write.
    pub(super) fn left(&self) -> usize {
        self.parts.iter().map(|p| p.items.len()).sum()
    }

    /// Writes what is left with `write` (one call per part, whose output lands in
    /// `written`), splitting parts refused for good. Stops at the first error that passes
    /// and returns it; what is left stays for the next call.
    pub(super) async fn run<R, F, Fut>(
        &mut self,
        written: &mut Vec<R>,
        mut write: F,
    ) -> Result<(), db::Error>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Result<Vec<R>, db::Error>>,
    {
        while let Some(part) = self.parts.pop_front() {
            match write(part.items.clone()).await {
                Ok(rows) => written.extend(rows),
                Err(e) if e.is_transient() => {
                    self.parts.push_front(part);
                    return Err(e);
                }
                Err(e) => self.split(part, e),
            }
        }
        Ok(())
    }

    fn split(&mut self, mut part: Part<T>, error: db::Error) {
        if part.items.len() > 1 {
            let right = part.items.split_off(part.items.len() / 2);
            self.parts.push_front(Part {
                items: right,
                tried: false,
            });
            self.parts.push_front(Part {
                items: part.items,
                tried: false,
            });
        } else if !part.tried {
            part.tried = true;
            self.parts.push_front(part);
        } else if let Some(item) = part.items.pop() {
            self.refused.push((item, error));
        }
    }

    /// The items refused for good so far, with PostgreSQL's reason.
    pub(super) fn take_refused(&mut self) -> Vec<(T, db::Error)> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn refused_for_good() -> db::Error {
        db::Error::Migration("refused".into())
    }

    fn passing() -> db::Error {
        db::Error::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("connection closed".to_owned()),
        ))
    }

    #[tokio::test]
    async fn refused_items_are_found_and_the_rest_written() {
        let items: Vec<u32> = (0..100).collect();
        let mut isolation = Isolation::new(items);
        let calls = RefCell::new(0);
        let mut written = Vec::new();
        isolation
            .run(&mut written, |part| {
                *calls.borrow_mut() += 1;
                async move {
                    if part.iter().any(|i| *i == 17 || *i == 80) {
                        Err(refused_for_good())
                    } else {
                        Ok(part)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(isolation.left(), 0);
        written.sort_unstable();
        let expected: Vec<u32> = (0..100).filter(|i| *i != 17 && *i != 80).collect();
        assert_eq!(written, expected);
        let refused: Vec<u32> = isolation
            .take_refused()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(refused, vec![17, 80]);
        // Halving finds each bad item in about log2(100) splits, not 100 single writes.
        assert!(*calls.borrow() < 40, "{} writes", calls.borrow());
    }

    #[tokio::test]
    async fn an_error_that_passes_keeps_what_is_left_for_the_next_run() {
        let mut isolation = Isolation::new((0..8).collect::<Vec<u32>>());
        let mut written = Vec::new();
        let down = RefCell::new(false);
        let went_down = RefCell::new(false);
        // Item 5 is refused for good; the database goes away when item 6's part first
        // comes up, and stays away until the test brings it back.
        let mut write = |part: Vec<u32>| {
            let (down, went_down) = (&down, &went_down);
            async move {
                if *down.borrow() {
                    return Err(passing());
                }
                if part.contains(&5) {
                    return Err(refused_for_good());
                }
                if part.contains(&6) && !*went_down.borrow() {
                    *went_down.borrow_mut() = true;
                    *down.borrow_mut() = true;
                    return Err(passing());
                }
                Ok(part)
            }
        };
        assert!(isolation.run(&mut written, &mut write).await.is_err());
        assert_eq!(isolation.left(), 2, "6 and 7 are left: {isolation:?}");
        *down.borrow_mut() = false;
        isolation.run(&mut written, &mut write).await.unwrap();
        assert_eq!(isolation.left(), 0);
        written.sort_unstable();
        assert_eq!(written, vec![0, 1, 2, 3, 4, 6, 7]);
        let refused: Vec<u32> = isolation
            .take_refused()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(refused, vec![5]);
    }

    #[tokio::test]
    async fn a_single_item_gets_a_second_try_before_it_counts_as_refused() {
        let mut isolation = Isolation::new(vec![1u32]);
        let mut written = Vec::new();
        let tries = RefCell::new(0);
        isolation
            .run(&mut written, |part| {
                *tries.borrow_mut() += 1;
                let first = *tries.borrow() == 1;
                async move {
                    if first {
                        Err(refused_for_good())
                    } else {
                        Ok(part)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(written, vec![1]);
        assert!(isolation.take_refused().is_empty());
    }
}
