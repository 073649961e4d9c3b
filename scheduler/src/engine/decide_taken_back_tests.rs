//! Work taken back from a dead holder, before and after it sent the request.

use super::*;

#[test]
fn a_slot_taken_back_follows_what_the_dead_holder_wrote() {
    let active = job(JobStatus::Active);
    let slot = at(10, 5, 0);
    let now = slot + TimeDelta::seconds(15);
    let prepared = row(ExecutionTrigger::Schedule, slot, ExecutionStatus::Prepared);
    let running = row(ExecutionTrigger::Schedule, slot, ExecutionStatus::Running);

    // Prepared, never sent: it fires now (the send marks it late).
    let unsent = taken_back(claimed(slot_task(slot), now), true);
    let decision = decide_with(&unsent, Some(&active), Some(&prepared), now);
    assert_eq!(decision.action, Action::Send(prepared.id));
    assert_eq!(decision.next_fire, Some(at(10, 6, 0)));

    // Perhaps sent (whether or not the holder lived to mark the row RUNNING): closed as
    // abandoned, never sent twice.
    let sent = taken_back(claimed(slot_task(slot), now), false);
    for open in [&prepared, &running] {
        let decision = decide_with(&sent, Some(&active), Some(open), now);
        assert_eq!(decision.action, Action::Abandon(open.clone()));
        assert_eq!(decision.next_fire, Some(at(10, 6, 0)));
    }
    // A RUNNING row was sent, whatever Redis says (it lost the mark in a flush).
    let decision = decide_with(&unsent, Some(&active), Some(&running), now);
    assert_eq!(decision.action, Action::Abandon(running.clone()));

    // Finished before the holder died: nothing to do but schedule the next slot.
    let done = row(ExecutionTrigger::Schedule, slot, ExecutionStatus::Success);
    for item in [&unsent, &sent] {
        let decision = decide_with(item, Some(&active), Some(&done), now);
        assert_eq!(decision.action, Action::Release(Idle::Done));
        assert_eq!(decision.next_fire, Some(at(10, 6, 0)));
    }

    // No row: the holder died before writing one; the slot fires as any other.
    let decision = decide_with(&sent, Some(&active), None, now);
    assert_eq!(started(&decision).scheduled_for, slot);

    // The misfire rule fired a later slot than the one claimed: that row decides, and
    // the next fire time follows it.
    let later = row(
        ExecutionTrigger::Schedule,
        at(10, 9, 0),
        ExecutionStatus::Success,
    );
    let decision = decide_with(&sent, Some(&active), Some(&later), at(10, 9, 5));
    assert_eq!(decision.action, Action::Release(Idle::Done));
    assert_eq!(decision.next_fire, Some(at(10, 10, 0)));
}

#[test]
fn work_taken_back_goes_on_from_the_holders_slot_not_from_the_clock() {
    // An every-second job whose holder died: its lease expired 15 s later. The slots in
    // between are a backlog (each fires, late), not lost: the next fire time follows
    // the slot the holder reached, and the slot rules apply when it is claimed.
    let active = every_second();
    let every_second = timing(&active);
    let slot = at(10, 5, 0);
    let now = slot + TimeDelta::seconds(15);
    let item = taken_back(claimed(slot_task(slot), now), false);
    for status in [ExecutionStatus::Prepared, ExecutionStatus::Success] {
        let written = row(ExecutionTrigger::Schedule, slot, status);
        let decision = decide(Claim {
            claimed: &item,
            job: Some(&active),
            timing: Some(&every_second),
            row: Some(&written),
            now,
        });
        assert_eq!(
            decision.next_fire,
            Some(slot + TimeDelta::seconds(1)),
            "{status:?}"
        );
    }
}
