//! The validated configuration ("plan"): what `run` starts from and what `check-config`
//! summarises. Only [`super::load`] builds one, so holding a `Plan` means every check passed
//! and every relative path is already resolved against the configuration file's directory.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::Config;
use super::controller::Controller;

/// A loaded, layered, resolved and validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The configuration file it came from.
    pub file: PathBuf,
    /// The configuration (paths absolute).
    pub config: Config,
}

impl Plan {
    /// A one-screen summary for `check-config`. Never contains a secret: the password file is
    /// named, never read.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(s, "{}: configuration OK", self.file.display());
        let product = c.agent.product.as_deref().unwrap_or("(from the PLC)");
        let _ = writeln!(
            s,
            "agent     site {}, line {}, product {product}",
            c.agent.site, c.agent.line
        );
        devices_summary(c, &mut s);
        products_and_models(c, &mut s);
        mqtt_summary(c, &mut s);
        let _ = writeln!(
            s,
            "store     {} (max {})",
            c.store.data_dir.display(),
            c.store.max_bytes
        );
        let format = format!("{:?}", c.log.format).to_lowercase();
        let _ = writeln!(s, "log       {} ({format})", c.log.level);
        let metrics = if c.metrics.enabled {
            c.metrics.listen.to_string()
        } else {
            "off".to_string()
        };
        let _ = write!(s, "metrics   {metrics}");
        s
    }
}

/// "a, b, c", or "none".
fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// One line per device: controller, slave, registers and timing.
fn devices_summary(c: &Config, s: &mut String) {
    let _ = writeln!(s, "devices   {}", c.devices.len());
    let width = c.devices.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for d in &c.devices {
        let controller = Controller::parse(&d.controller)
            .map_or_else(|_| d.controller.clone(), |c| c.to_string());
        let _ = writeln!(
            s,
            "  {:width$}  {controller}  slave {}  {} register{}  every {} (timeout {})",
            d.name,
            d.slave_id,
            d.registers.len(),
            if d.registers.len() == 1 { "" } else { "s" },
            d.poll_interval,
            d.timeout,
        );
    }
}

/// The products and the enabled models.
fn products_and_models(c: &Config, s: &mut String) {
    let products: Vec<String> = c
        .products
        .iter()
        .map(|p| {
            let kind = format!("{:?}", p.chocolate).to_lowercase();
            format!("{} (recipe {}, {kind})", p.code, p.recipe_id)
        })
        .collect();
    let _ = writeln!(s, "products  {}", list_or_none(&products));
    let _ = writeln!(
        s,
        "models    {} (enabled: {})",
        c.models.dir.display(),
        list_or_none(&c.models.enabled)
    );
    let shadows: Vec<String> = (c.models.per_model.iter())
        .filter_map(|(n, t)| Some(format!("{n} ← {}", t.candidate.as_ref()?.display())))
        .collect();
    if !shadows.is_empty() {
        let _ = writeln!(s, "shadow    {}", shadows.join(", "));
    }
}

/// The broker, TLS and how the agent authenticates (files named, never read).
fn mqtt_summary(c: &Config, s: &mut String) {
    let m = &c.mqtt;
    let tls = if m.url.starts_with("mqtts://") {
        "yes"
    } else {
        "no"
    };
    let mut auth = match &m.username {
        Some(u) if m.password_file.is_some() => format!("user {u} + password file"),
        Some(u) => format!("user {u}, no password"),
        None => "none".to_string(),
    };
    if m.client_cert_file.is_some() {
        auth.push_str(" + client certificate");
    }
    let _ = writeln!(
        s,
        "mqtt      {}  client_id {}  topic_prefix {}  TLS {tls}  auth {auth}",
        m.url, m.client_id, m.topic_prefix
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::valid;

    #[test]
    fn summary_names_devices_broker_and_never_a_password() {
        let mut config = valid();
        config.mqtt.username = Some("line3".into());
        config.mqtt.password_file = Some("/etc/chocoline/mqtt-password".into());
        let plan = Plan {
            file: "x.toml".into(),
            config,
        };
        let s = plan.summary();
        assert!(
            s.contains("plc  tcp://127.0.0.1:5020  slave 1  3 registers  every 1s (timeout 500ms)"),
            "{s}"
        );
        assert!(s.contains("client_id chocoline"), "{s}");
        assert!(s.contains("TLS no"), "{s}");
        assert!(s.contains("auth user line3 + password file"), "{s}");
        assert!(
            !s.contains("mqtt-password"),
            "the password file path is not needed: {s}"
        );
        assert!(s.lines().count() <= 24, "one screen: {s}");
    }
}
