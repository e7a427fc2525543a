//! Reading past the first page: log entries and orders of a status with a cursor, every item once, in
//! order, even when entries share a timestamp; and the monitor feed one process shares between its
//! subscribers.

use bson::{doc, oid::ObjectId, DateTime, Document};
use printcore::{FeedItem, MigrateOptions, MonitorHub, OrdersQuery, PrintStatus};
use printcore_tests::db::{fresh_database, Mode};
use printcore_tests::fixtures::*;
use std::time::Duration;

#[tokio::test]
async fn log_pages_hold_every_entry_once_newest_first_even_with_equal_timestamps() {
    let db = fresh_database(Mode::ReplicaSet, "logpages").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    // 25 entries, five per timestamp: the cursor must break ties by _id.
    let base = DateTime::now().timestamp_millis();
    let docs: Vec<Document> = (0..25)
        .map(|i| {
            doc! { "_id": ObjectId::new(), "action": "retry", "orderId": "LP-1", "timestamp": DateTime::from_millis(base - (i / 5) * 1000) }
        })
        .collect();
    db.collection::<Document>("print_logs").insert_many(docs.clone()).await.unwrap();
    let mut expected: Vec<(i64, ObjectId)> = docs
        .iter()
        .map(|d| (d.get_datetime("timestamp").unwrap().timestamp_millis(), d.get_object_id("_id").unwrap()))
        .collect();
    expected.sort_by(|a, b| b.cmp(a));

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = core.logs_page(Some("LP-1"), None, before.as_deref(), 4).await.unwrap();
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|l| (l.timestamp.timestamp_millis(), l.id)));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every entry once, newest first, ties by _id");
    let bad = core.logs_page(None, None, Some("12_notanid"), 10).await.unwrap_err();
    assert_eq!(bad.code(), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn order_pages_reach_every_failed_order() {
    let db = fresh_database(Mode::ReplicaSet, "orderpages").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    let mut docs = Vec::new();
    for i in 0..7 {
        let mut d = paid_order(&format!("OP-{i}"), DateTime::now(), 1000);
        d.insert("printStatus", if i == 3 { "printed" } else { "failed" });
        docs.push(d);
    }
    insert_orders(&db, docs).await;
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query = OrdersQuery {
            status: Some(PrintStatus::Failed),
            before: before.clone(),
            limit: Some(2),
            ..Default::default()
        };
        let page = core.orders_page(&query).await.unwrap();
        ids.extend(page.items.into_iter().map(|o| o.order_id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, ["OP-6", "OP-5", "OP-4", "OP-2", "OP-1", "OP-0"]);
}

#[tokio::test]
async fn subscribers_of_a_hub_share_one_feed_which_stops_with_the_last() {
    let db = fresh_database(Mode::ReplicaSet, "hub").await;
    let core = core(&db).await;
    core.migrate(&MigrateOptions::default()).await.unwrap();
    insert_orders(&db, vec![paid_order("HB-1", DateTime::now(), 1000)]).await;
    let hub = MonitorHub::new(core.clone(), Duration::from_millis(500));
    let mut subs: Vec<_> = (0..5).map(|_| hub.subscribe()).collect();
    assert_eq!(hub.subscribers(), 5);
    // The change streams open in the background: each subscriber hears first that the feed is open,
    // and every change after that.
    for sub in &mut subs {
        let item = tokio::time::timeout(Duration::from_secs(30), sub.next()).await.expect("the feed opens");
        assert_eq!(item, FeedItem::Open);
    }
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "HB-1" }, doc! { "$set": { "printError": "x" } })
        .await
        .unwrap();
    for sub in &mut subs {
        let item = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.expect("an event");
        match item {
            FeedItem::Event(e) => assert_eq!((e.kind.as_str(), e.id.as_str()), ("order", "HB-1")),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    // A subscriber joining a feed that is open hears so first, once, then the next change.
    let mut late = hub.subscribe();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), late.next()).await.unwrap(), FeedItem::Open);
    db.collection::<Document>("orders")
        .update_one(doc! { "orderId": "HB-1" }, doc! { "$set": { "printError": "y" } })
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), late.next()).await.expect("an event") {
        FeedItem::Event(e) => assert_eq!((e.kind.as_str(), e.id.as_str()), ("order", "HB-1")),
        other => panic!("expected the event after the open, got {other:?}"),
    }
    drop(late);
    drop(subs.pop());
    assert_eq!(hub.subscribers(), 4);
    subs.clear();
    assert_eq!(hub.subscribers(), 0, "the last one out stops the feed");
    let mut again = hub.subscribe();
    hub.stop();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), again.next()).await.unwrap(), FeedItem::End);
    assert_eq!(again.next().await, FeedItem::End, "after the end, always the end");
}
