//! The systemd unit lets the service open every serial node family a line controller uses for
//! Modbus RTU, and nothing else in /dev (`systemd-analyze verify` and the exposure level are
//! checked by `.ci/steps/70-systemd.sh`).

use std::path::Path;

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/chocoline.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of `key=` lines, comments skipped.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .collect()
}

#[test]
fn serial_drivers_of_usb_adapters_uarts_and_pi_hats_are_allowed() {
    let text = unit();
    assert_eq!(values(&text, "DevicePolicy"), ["closed"]);
    assert_eq!(values(&text, "PrivateDevices"), ["no"]);
    let allowed = values(&text, "DeviceAllow");
    // Driver names as in /proc/devices: USB serial, CDC ACM, 8250 UART, PL011 (Raspberry Pi
    // UARTs and most RS-485 HATs), SC16IS7xx (SPI/I2C RS-485 HATs).
    let wanted = ["ttyUSB", "ttyACM", "ttyS", "ttyAMA", "ttySC"];
    for driver in wanted {
        let line = format!("char-{driver} rw");
        assert!(
            allowed.contains(&line.as_str()),
            "no DeviceAllow={line}: {allowed:?}"
        );
    }
    assert_eq!(
        allowed.len(),
        wanted.len(),
        "unexpected device access: {allowed:?}"
    );
    assert!(values(&text, "SupplementaryGroups").contains(&"dialout"));
}

#[test]
fn unit_orders_itself_after_the_first_time_sync() {
    let text = unit();
    assert!(
        values(&text, "After").contains(&"time-sync.target"),
        "no After=time-sync.target"
    );
    assert!(
        values(&text, "Wants").contains(&"time-sync.target"),
        "no Wants=time-sync.target"
    );
}
