//! sysfs sensors against fixture directories shaped like the kernel's: DHT through IIO and
//! DS18B20 through 1-wire. EIO is real: the fixture file is a symlink to `/proc/self/mem`,
//! whose read at offset 0 fails with EIO, as the kernel's dht11 driver does on a bad transfer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use officemesh_sensors::build::build_sensor_at;
use officemesh_sensors::sysfs::{parse_w1_slave, DhtIio, Ds18b20, RetryPolicy};
use officemesh_sensors::DriverKind;
use officemesh_sensors::{Measurement, Quantity, Sensor, SensorError, SensorSpec};

const RETRY_FAST: RetryPolicy = RetryPolicy {
    retries: 2,
    backoff: Duration::from_millis(1),
};

fn iio_device(root: &Path, index: u32, name: &str) -> PathBuf {
    let dir = root.join(format!("sys/bus/iio/devices/iio:device{index}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("name"), format!("{name}\n")).expect("write name");
    dir
}

fn write_dht(dir: &Path, milli_c: &str, milli_rh: &str) {
    // Replaces a symlink left by `break_with_eio` rather than writing through it.
    let _ = std::fs::remove_file(dir.join("in_temp_input"));
    std::fs::write(dir.join("in_temp_input"), format!("{milli_c}\n")).expect("write");
    std::fs::write(
        dir.join("in_humidityrelative_input"),
        format!("{milli_rh}\n"),
    )
    .expect("write");
}

/// Makes `in_temp_input` fail with EIO on read.
fn break_with_eio(dir: &Path) {
    let file = dir.join("in_temp_input");
    let _ = std::fs::remove_file(&file);
    std::os::unix::fs::symlink("/proc/self/mem", &file).expect("symlink");
}

fn values(measurements: &[Measurement]) -> Vec<(Quantity, f64)> {
    measurements.iter().map(|m| (m.quantity, m.value)).collect()
}

/// A DHT sensor named "desk" over the fixture tree under `root`, retrying fast.
fn dht_sensor(root: &Path, kind: DriverKind, device: &str) -> DhtIio {
    DhtIio::new("desk", kind, &root.join("sys"), device, RETRY_FAST)
}

#[test]
fn dht_good_value_is_found_by_name_among_iio_devices() {
    let root = tempfile::tempdir().expect("tempdir");
    iio_device(root.path(), 0, "ads1015");
    let dht = iio_device(root.path(), 1, "dht11");
    write_dht(&dht, "23100", "45600");
    let mut sensor = dht_sensor(root.path(), DriverKind::Dht22, "");
    let readings = sensor.read().expect("good value");
    assert_eq!(
        values(&readings),
        vec![(Quantity::Temperature, 23.1), (Quantity::Humidity, 45.6)]
    );
    assert_eq!(sensor.driver(), "dht22");
}

#[test]
fn dht_eio_is_retried_with_backoff_then_recovers() {
    let root = tempfile::tempdir().expect("tempdir");
    let dht = iio_device(root.path(), 0, "dht11");
    write_dht(&dht, "21000", "40000");
    break_with_eio(&dht);
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let fixed_dir = dht.clone();
    let mut sensor =
        dht_sensor(root.path(), DriverKind::Dht22, "iio:device0").with_pause(move |wait| {
            let mut waits = seen.lock().expect("lock");
            waits.push(wait);
            // The second retry finds the sensor answering again.
            if waits.len() == 2 {
                write_dht(&fixed_dir, "21500", "40500");
            }
        });
    let readings = sensor.read().expect("third attempt succeeds");
    assert_eq!(
        values(&readings),
        vec![(Quantity::Temperature, 21.5), (Quantity::Humidity, 40.5)]
    );
    // A DHT22 needs 2 s between reads: the backoff starts there, whatever was configured.
    assert_eq!(
        *waits.lock().expect("lock"),
        vec![Duration::from_secs(2), Duration::from_secs(4)]
    );
}

#[test]
fn dht22_reads_are_at_least_two_seconds_apart() {
    let root = tempfile::tempdir().expect("tempdir");
    let dht = iio_device(root.path(), 0, "dht11");
    write_dht(&dht, "21000", "40000");
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let mut sensor = dht_sensor(root.path(), DriverKind::Dht22, "")
        .with_pause(move |wait| seen.lock().expect("lock").push(wait));
    sensor.read().expect("first read");
    sensor.read().expect("second read");
    let waits = waits.lock().expect("lock");
    assert_eq!(waits.len(), 1, "only the second read waits: {waits:?}");
    assert!(
        waits[0] > Duration::from_millis(1500) && waits[0] <= Duration::from_secs(2),
        "{waits:?}"
    );
}

#[test]
fn dht_persistent_eio_fails_and_keeps_the_last_good_value() {
    let root = tempfile::tempdir().expect("tempdir");
    let dht = iio_device(root.path(), 0, "dht11");
    write_dht(&dht, "22000", "41000");
    let mut sensor = dht_sensor(root.path(), DriverKind::Dht22, "").with_pause(|_| {});
    let good = sensor.read().expect("first read good");
    break_with_eio(&dht);
    match sensor.read() {
        Err(SensorError::Io { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(5), "EIO expected: {source}")
        }
        other => panic!("expected EIO, got {other:?}"),
    }
    assert_eq!(sensor.last_good(), Some(good.as_slice()));
}

#[test]
fn dht_garbage_is_never_a_value() {
    let root = tempfile::tempdir().expect("tempdir");
    let dht = iio_device(root.path(), 0, "dht11");
    let mut sensor = dht_sensor(root.path(), DriverKind::Dht11, "").with_pause(|_| {});
    for (t, h) in [("250000", "40000"), ("21000", "-3000"), ("abc", "40000")] {
        write_dht(&dht, t, h);
        assert!(
            matches!(sensor.read(), Err(SensorError::BadData { .. })),
            "{t}/{h} must be refused"
        );
    }
    assert_eq!(sensor.last_good(), None);
}

#[test]
fn dht_missing_device_names_the_overlay_and_is_not_retried() {
    let root = tempfile::tempdir().expect("tempdir");
    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let mut sensor = dht_sensor(root.path(), DriverKind::Dht22, "")
        .with_pause(move |_| *counter.lock().expect("lock") += 1);
    let err = sensor.read().expect_err("no device");
    assert!(err.to_string().contains("dtoverlay=dht11"), "{err}");
    assert_eq!(*attempts.lock().expect("lock"), 0);
}

fn w1_device(root: &Path, id: &str) -> PathBuf {
    let dir = root.join("sys/bus/w1/devices").join(id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A DS18B20 sensor named "window" over the fixture tree under `root`, retrying fast.
fn ds18b20_sensor(root: &Path, device: &str) -> Ds18b20 {
    Ds18b20::new("window", &root.join("sys"), device, RETRY_FAST)
}

const W1_GOOD: &str =
    "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
const W1_CRC_NO: &str =
    "72 01 4b 46 7f ff 0e 10 57 : crc=ff NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";

/// The id of the DS18B20 the fixtures hold.
const W1_ID: &str = "28-0316a2795dff";

/// A DS18B20 directory under `root` whose `w1_slave` holds [`W1_GOOD`] (23.125 °C).
fn w1_good_device(root: &Path) -> PathBuf {
    let dir = w1_device(root, W1_ID);
    std::fs::write(dir.join("w1_slave"), W1_GOOD).expect("write");
    dir
}

#[test]
fn w1_slave_parsing() {
    assert_eq!(parse_w1_slave(W1_GOOD), Ok(23.125));
    assert!(parse_w1_slave(W1_CRC_NO)
        .expect_err("crc")
        .to_string()
        .contains("CRC"));
    let power_on = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";
    assert!(parse_w1_slave(power_on)
        .expect_err("85")
        .to_string()
        .contains("power-on"));
    let negative = "5e ff 4b 46 7f ff 02 10 e8 : crc=e8 YES\n5e ff 4b 46 7f ff 02 10 e8 t=-10125\n";
    assert_eq!(parse_w1_slave(negative), Ok(-10.125));
    assert!(parse_w1_slave("").is_err());
    // DQ held low: nine zero bytes, whose CRC is 0, so the kernel says YES and t=0.
    let zeros = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n";
    assert!(parse_w1_slave(zeros)
        .expect_err("all zero")
        .to_string()
        .contains("all-zero"));
    // A real 0 °C reading is fine (datasheet table 1: 0 °C = 0x0000, with 0x7F config byte).
    let real_zero = "00 00 4b 46 7f ff 10 10 cd : crc=cd YES\n00 00 4b 46 7f ff 10 10 cd t=0\n";
    assert_eq!(parse_w1_slave(real_zero), Ok(0.0));
}

#[test]
fn ds18b20_good_value_from_w1_slave_and_from_temperature() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = w1_good_device(root.path());
    w1_device(root.path(), "w1_bus_master1");
    let mut sensor = ds18b20_sensor(root.path(), "");
    assert_eq!(
        values(&sensor.read().expect("good")),
        vec![(Quantity::Temperature, 23.125)]
    );
    std::fs::write(dir.join("temperature"), "19500\n").expect("write");
    assert_eq!(
        values(&sensor.read().expect("good")),
        vec![(Quantity::Temperature, 19.5)]
    );
}

#[test]
fn ds18b20_crc_no_is_retried_then_fails_keeping_last_good() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = w1_good_device(root.path());
    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let mut sensor =
        ds18b20_sensor(root.path(), W1_ID).with_pause(move |_| *counter.lock().expect("lock") += 1);
    sensor.read().expect("good");
    std::fs::write(dir.join("w1_slave"), W1_CRC_NO).expect("write");
    assert!(matches!(sensor.read(), Err(SensorError::BadData { .. })));
    assert_eq!(*attempts.lock().expect("lock"), 2, "two retries");
    assert_eq!(sensor.last_good(), Some(23.125));
}

#[test]
fn ds18b20_all_zero_scratchpad_behind_the_temperature_file_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = w1_device(root.path(), W1_ID);
    std::fs::write(dir.join("temperature"), "0\n").expect("write");
    std::fs::write(
        dir.join("w1_slave"),
        "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n",
    )
    .expect("write");
    let mut sensor = ds18b20_sensor(root.path(), W1_ID).with_pause(|_| {});
    let err = sensor.read().expect_err("all zero");
    assert!(err.to_string().contains("all-zero"), "{err}");
}

#[test]
fn ds18b20_missing_device() {
    let root = tempfile::tempdir().expect("tempdir");
    w1_device(root.path(), "w1_bus_master1");
    let mut sensor = ds18b20_sensor(root.path(), "");
    let err = sensor.read().expect_err("none");
    assert!(err.to_string().contains("w1-gpio"), "{err}");
    let mut named = ds18b20_sensor(root.path(), "28-000000000000");
    assert!(matches!(named.read(), Err(SensorError::Io { .. })));
}

#[test]
fn build_sensor_wires_sysfs_drivers_with_processing() {
    let root = tempfile::tempdir().expect("tempdir");
    w1_good_device(root.path());
    let spec: SensorSpec = toml::from_str(
        "driver = 'ds18b20'\nname = 'window'\n[temperature]\noffset = -0.125\ndecimals = 1\n",
    )
    .expect("spec");
    let mut sensor = build_sensor_at(&spec, 0, root.path()).expect("builds");
    assert_eq!(
        values(&sensor.read().expect("reads")),
        vec![(Quantity::Temperature, 23.0)]
    );
    assert_eq!(sensor.name(), "window");
}
