//! The event hub of `events.rs`: routing by user, lagging subscriptions, leaving the hub.

use super::*;
use scheduler::events::EventKind;

fn event(user: Uuid) -> HubMessage {
    HubMessage::Event(Arc::new(ExecutionEvent::new(
        EventKind::Started,
        db::test_db::running_log(user),
    )))
}

fn owner(message: &HubMessage) -> Uuid {
    match message {
        HubMessage::Event(event) => event.log.user_id,
        HubMessage::UserDeleted(user) => *user,
    }
}

#[tokio::test]
async fn events_reach_only_their_users_subscriptions_and_admins_watching_everyone() {
    let hub = EventHub::idle();
    let (alice, bob, admin) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut alice_sub = hub.subscribe(alice, false);
    let mut bob_sub = hub.subscribe(bob, false);
    let mut everyone = hub.subscribe(admin, true);
    hub.dispatch(&event(alice));
    hub.dispatch(&event(bob));
    hub.dispatch(&HubMessage::UserDeleted(bob));

    assert_eq!(owner(&alice_sub.recv().await.unwrap()), alice);
    assert!(
        alice_sub.rx.try_recv().is_err(),
        "alice got someone else's message"
    );
    assert_eq!(owner(&bob_sub.recv().await.unwrap()), bob);
    assert!(matches!(
        bob_sub.recv().await.unwrap(),
        HubMessage::UserDeleted(user) if user == bob
    ));
    assert_eq!(owner(&everyone.recv().await.unwrap()), alice);
    assert_eq!(owner(&everyone.recv().await.unwrap()), bob);
    assert!(
        everyone.rx.try_recv().is_err(),
        "another user's deletion must not reach an admin watching everyone"
    );
    hub.dispatch(&HubMessage::UserDeleted(admin));
    assert!(matches!(
        everyone.recv().await.unwrap(),
        HubMessage::UserDeleted(user) if user == admin
    ));
}

#[tokio::test]
async fn a_subscription_too_far_behind_gets_what_was_queued_then_lagged() {
    let hub = EventHub::idle();
    let user = Uuid::new_v4();
    let mut slow = hub.subscribe(user, false);
    let mut other = hub.subscribe(user, false);
    for _ in 0..CAPACITY {
        hub.dispatch(&event(user));
        other.recv().await.unwrap();
    }
    assert_eq!(hub.subscribers(), 2);
    hub.dispatch(&event(user));
    assert_eq!(hub.subscribers(), 1, "the lagging subscription is removed");
    assert_eq!(
        owner(&other.recv().await.unwrap()),
        user,
        "the others go on"
    );
    for _ in 0..CAPACITY {
        slow.recv().await.unwrap();
    }
    assert_eq!(slow.recv().await.unwrap_err(), Ended::Lagged);
}

#[tokio::test]
async fn a_dropped_subscription_leaves_the_hub() {
    let hub = EventHub::idle();
    let user = Uuid::new_v4();
    let first = hub.subscribe(user, false);
    let second = hub.subscribe(user, true);
    assert_eq!(hub.subscribers(), 2);
    drop(first);
    drop(second);
    assert_eq!(hub.subscribers(), 0);
    assert!(hub.inner.routes.lock().unwrap().by_user.is_empty());
}
