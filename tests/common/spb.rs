//! Sparkplug test helpers: the `[sparkplug]` section of the test lines (group `plant1`, edge
//! node `line-1`) and a host in Rust that subscribes to the group and decodes every payload
//! with the schema's messages (the pysparkplug host is in `sparkplug_host.rs`).

use std::sync::{Arc, Mutex};

use chocoline::sparkplug::Payload;
use prost::Message as _;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// `[sparkplug]` on, group `plant1`, edge node `line-1`.
pub const SPARKPLUG: &str = r#"
[sparkplug]
enabled = true
group_id = "plant1"
edge_node_id = "line-1"
"#;

/// Every (topic, payload) the host received, in order.
pub type Seen = Arc<Mutex<Vec<(String, Payload)>>>;

/// A host: subscribes to `spBv1.0/plant1/#` (subscription acknowledged before it returns)
/// and decodes every payload.
pub async fn host(port: u16) -> (AsyncClient, Seen) {
    let mut o = MqttOptions::new(format!("host-{}", super::free_port()), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 64);
    client
        .subscribe("spBv1.0/plant1/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok(ev) = events.poll().await {
            match ev {
                Event::Incoming(Incoming::SubAck(_)) => {
                    if let Some(t) = tx.take() {
                        let _ = t.send(());
                    }
                }
                Event::Incoming(Incoming::Publish(p)) => {
                    let payload = Payload::decode(p.payload.as_ref()).unwrap_or_default();
                    s.lock().unwrap().push((p.topic.clone(), payload));
                }
                _ => {}
            }
        }
    });
    rx.await.unwrap();
    (client, seen)
}
