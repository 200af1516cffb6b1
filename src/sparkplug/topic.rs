//! The Sparkplug topic namespace (specification 3.0.0, chapter 4):
//! `spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]`, where the device level is
//! present exactly for DBIRTH, DDEATH, DDATA and DCMD, and `spBv1.0/STATE/{host_id}` for a
//! host application's state. The ids are UTF-8 and must not contain `+`, `/` or `#`.

use std::fmt;

/// The namespace element every Sparkplug B topic starts with.
pub const NAMESPACE: &str = "spBv1.0";

/// The message types of the edge-node namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum MessageType {
    NBirth,
    NDeath,
    DBirth,
    DDeath,
    NData,
    DData,
    NCmd,
    DCmd,
}

impl MessageType {
    /// Every message type, in the specification's order.
    pub const ALL: [MessageType; 8] = [
        MessageType::NBirth,
        MessageType::NDeath,
        MessageType::DBirth,
        MessageType::DDeath,
        MessageType::NData,
        MessageType::DData,
        MessageType::NCmd,
        MessageType::DCmd,
    ];

    /// The topic element, e.g. `NBIRTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NDeath => "NDEATH",
            MessageType::DBirth => "DBIRTH",
            MessageType::DDeath => "DDEATH",
            MessageType::NData => "NDATA",
            MessageType::DData => "DDATA",
            MessageType::NCmd => "NCMD",
            MessageType::DCmd => "DCMD",
        }
    }

    /// Whether its topic names a device.
    pub fn is_device(self) -> bool {
        matches!(
            self,
            MessageType::DBirth | MessageType::DDeath | MessageType::DData | MessageType::DCmd
        )
    }
}

/// A topic of the edge-node namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// `group_id`.
    pub group: String,
    /// What the message is.
    pub message_type: MessageType,
    /// `edge_node_id`.
    pub edge_node: String,
    /// `device_id`, exactly for the device message types.
    pub device: Option<String>,
}

/// Why a string is not a Sparkplug topic of the edge-node namespace, or an id not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not `spBv1.0/…`.
    #[error("not a Sparkplug B topic (expected {NAMESPACE}/group/TYPE/edge_node[/device])")]
    Namespace,
    /// An unknown message type element.
    #[error("unknown message type {0:?}")]
    MessageType(String),
    /// A device level where none belongs, or none where one does.
    #[error("{0} topics {1} a device level")]
    DeviceLevel(&'static str, &'static str),
    /// An empty id, or one with `+`, `/` or `#`.
    #[error("invalid id {0:?}: must be non-empty UTF-8 without +, / or #")]
    Id(String),
}

/// Whether `id` may be a group, edge-node, device or host id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['+', '/', '#'])
}

impl Topic {
    /// A node-level topic (`device` None) or a device-level one, checked.
    pub fn new(
        group: &str,
        message_type: MessageType,
        edge_node: &str,
        device: Option<&str>,
    ) -> Result<Topic, TopicError> {
        for id in [Some(group), Some(edge_node), device].into_iter().flatten() {
            if !valid_id(id) {
                return Err(TopicError::Id(id.to_owned()));
            }
        }
        match (message_type.is_device(), device.is_some()) {
            (true, false) => return Err(TopicError::DeviceLevel(message_type.as_str(), "need")),
            (false, true) => return Err(TopicError::DeviceLevel(message_type.as_str(), "have no")),
            _ => {}
        }
        Ok(Topic {
            group: group.to_owned(),
            message_type,
            edge_node: edge_node.to_owned(),
            device: device.map(str::to_owned),
        })
    }

    /// Read a topic string.
    pub fn parse(s: &str) -> Result<Topic, TopicError> {
        let parts: Vec<&str> = s.split('/').collect();
        let (ns, group, kind, node, device) = match parts.as_slice() {
            [ns, g, t, n] => (*ns, *g, *t, *n, None),
            [ns, g, t, n, d] => (*ns, *g, *t, *n, Some(*d)),
            _ => return Err(TopicError::Namespace),
        };
        if ns != NAMESPACE {
            return Err(TopicError::Namespace);
        }
        let message_type = (MessageType::ALL.into_iter())
            .find(|m| m.as_str() == kind)
            .ok_or_else(|| TopicError::MessageType(kind.to_owned()))?;
        Topic::new(group, message_type, node, device)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{NAMESPACE}/{}/{}/{}",
            self.group,
            self.message_type.as_str(),
            self.edge_node
        )?;
        match &self.device {
            Some(d) => write!(f, "/{d}"),
            None => Ok(()),
        }
    }
}

/// `spBv1.0/STATE/{host_id}`: where a host application publishes its state.
pub fn state_topic(host_id: &str) -> Result<String, TopicError> {
    if !valid_id(host_id) {
        return Err(TopicError::Id(host_id.to_owned()));
    }
    Ok(format!("{NAMESPACE}/STATE/{host_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_device_topics_round_trip() {
        for s in [
            "spBv1.0/plant1/NBIRTH/line-3",
            "spBv1.0/plant1/NDEATH/line-3",
            "spBv1.0/plant1/NCMD/line-3",
            "spBv1.0/plant1/DBIRTH/line-3/tempering",
            "spBv1.0/plant1/DDATA/line-3/conche",
        ] {
            let t = Topic::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.to_string(), s);
        }
        let t = Topic::parse("spBv1.0/g/DCMD/e/d").unwrap();
        assert_eq!(
            (t.message_type, t.device.as_deref()),
            (MessageType::DCmd, Some("d"))
        );
    }

    #[test]
    fn wrong_topics_say_why() {
        let e = |s| Topic::parse(s).unwrap_err();
        assert_eq!(e("spAv1.0/g/NBIRTH/e"), TopicError::Namespace);
        assert_eq!(e("spBv1.0/g/NBIRTH"), TopicError::Namespace);
        assert_eq!(
            e("spBv1.0/g/NBORN/e"),
            TopicError::MessageType("NBORN".into())
        );
        assert_eq!(
            e("spBv1.0/g/NDATA/e/d"),
            TopicError::DeviceLevel("NDATA", "have no")
        );
        assert_eq!(
            e("spBv1.0/g/DDATA/e"),
            TopicError::DeviceLevel("DDATA", "need")
        );
        assert_eq!(e("spBv1.0/g/NDATA/"), TopicError::Id(String::new()));
        assert!(Topic::new("a+b", MessageType::NData, "e", None).is_err());
        assert!(Topic::new("g", MessageType::NData, "e#", None).is_err());
    }

    #[test]
    fn state_topic_of_a_host() {
        assert_eq!(state_topic("scada1").unwrap(), "spBv1.0/STATE/scada1");
        assert!(state_topic("a/b").is_err());
    }
}
