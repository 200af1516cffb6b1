//! The Modbus simulator as a device: it refuses writes, ignores unknown unit ids, serves
//! registers through `[features] signal_map`, and follows its source's values and dropouts.

use std::collections::BTreeMap;
use std::time::Duration;

use chocoline::config::Config;
use chocoline::simulate::server::{RegisterMap, ServeMapError, SimService, serve_tcp};
use chocoline::simulate::source::{FixedSource, SignalSource};
use tokio_modbus::prelude::*;
use tokio_util::sync::CancellationToken;

const TOML: &str = "[[devices]]\nname = \"conche\"\ncontroller = \"tcp://x\"\nslave_id = 3\n\
    [[devices.registers]]\nname = \"plant_ph\"\naddress = 4\nscale = 0.01\n\
    [[devices.registers]]\nname = \"moisture\"\nregister = \"input\"\naddress = 0\ndata_type = \"FLOAT32\"\nbyte_order = \"DCBA\"\n";

async fn start() -> (CancellationToken, SimService, std::net::SocketAddr) {
    let cfg: Config = toml_edit::de::from_str(TOML).unwrap();
    let mut signal_map = BTreeMap::new();
    signal_map.insert("ph".to_string(), "plant_ph".to_string());
    let map = RegisterMap::from_devices(&cfg.devices, &signal_map).unwrap();
    let svc = SimService::new(map, FixedSource::new([("ph", 5.25), ("moisture", 1.5)]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    tokio::spawn(serve_tcp(listener, svc.clone(), token.clone()));
    (token, svc, addr)
}

#[tokio::test]
async fn serves_through_signal_map_and_refuses_writes() {
    let (token, _svc, addr) = start().await;
    let mut ctx = tcp::connect_slave(addr, Slave(3)).await.unwrap();
    // ph 5.25 / 0.01 = 525 under the plant's register name.
    assert_eq!(
        ctx.read_holding_registers(4, 1).await.unwrap().unwrap(),
        vec![525]
    );
    // 1.5f32 = 0x3FC00000, DCBA on the wire: 0x0000, 0xC03F.
    assert_eq!(
        ctx.read_input_registers(0, 2).await.unwrap().unwrap(),
        vec![0x0000, 0xC03F]
    );
    let e = ctx.write_single_register(4, 1).await.unwrap().unwrap_err();
    assert_eq!(e, ExceptionCode::IllegalFunction);
    drop(ctx);
    // An unknown unit id gets no answer at all.
    let mut other = tcp::connect_slave(addr, Slave(9)).await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        other.read_holding_registers(4, 1),
    )
    .await;
    assert!(r.is_err(), "unknown unit answered: {r:?}");
    token.cancel();
}

#[tokio::test]
async fn duplicate_slave_ids_are_refused_with_both_names() {
    let doubled = format!("{TOML}{}", TOML.replace("conche", "conche2"));
    let cfg: Config = toml_edit::de::from_str(&doubled).unwrap();
    let e = RegisterMap::from_devices(&cfg.devices, &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, ServeMapError::DuplicateSlave { slave: 3, .. }));
    assert!(e.to_string().contains("\"conche2\""));
}

/// A source whose device drops out after a number of steps.
struct Dropping {
    steps: u32,
}
impl SignalSource for Dropping {
    fn value(&self, _: &str) -> Option<f64> {
        Some(f64::from(self.steps))
    }
    fn is_dropped(&self, _: &str) -> bool {
        self.steps >= 2
    }
    fn step(&mut self, _: Duration) {
        self.steps += 1;
    }
}

#[tokio::test]
async fn follows_steps_and_dropouts() {
    let cfg: Config = toml_edit::de::from_str(TOML).unwrap();
    let map = RegisterMap::from_devices(&cfg.devices, &BTreeMap::new()).unwrap();
    let svc = SimService::new(map, Dropping { steps: 0 });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    tokio::spawn(serve_tcp(listener, svc.clone(), token.clone()));
    let mut ctx = tcp::connect_slave(addr, Slave(3)).await.unwrap();
    svc.step(Duration::from_secs(1));
    // 1 step → value 1.0, served with scale 0.01 as raw 100.
    assert_eq!(
        ctx.read_holding_registers(4, 1).await.unwrap().unwrap(),
        vec![100]
    );
    svc.step(Duration::from_secs(1));
    let r =
        tokio::time::timeout(Duration::from_millis(200), ctx.read_holding_registers(4, 1)).await;
    assert!(r.is_err(), "a dropped device must not answer");
    token.cancel();
}
