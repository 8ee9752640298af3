//! Doctor checks against fixture roots: a Pi set up right, and one with every usual mistake.

use std::path::Path;

use officemesh_sensors::doctor::run_checks_for_user;
use officemesh_sensors::{run_checks, Check, SensorSpec};

fn specs() -> Vec<SensorSpec> {
    toml::from_str::<toml::Table>(
        r#"
        [[s]]
        driver = "bme280"
        name = "desk"
        [[s]]
        driver = "ads1115-sound"
        name = "mic"
        [[s]]
        driver = "mcp3008-sound"
        name = "mic2"
        spi_chip_select = 1
        [[s]]
        driver = "gpio-sound"
        name = "door"
        gpio_pin = 17
        [[s]]
        driver = "dht22"
        name = "hall"
        [[s]]
        driver = "ds18b20"
        name = "window"
        [[s]]
        driver = "sim"
        name = "fake"
        "#,
    )
    .expect("toml")["s"]
        .clone()
        .try_into()
        .expect("specs")
}

fn touch(root: &Path, path: &str) {
    let full = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, "").expect("touch");
}

fn write(root: &Path, path: &str, text: &str) {
    touch(root, path);
    std::fs::write(root.join(path.trim_start_matches('/')), text).expect("write");
}

fn good_pi(root: &Path) {
    touch(root, "/dev/i2c-1");
    touch(root, "/dev/spidev0.1");
    touch(root, "/dev/gpiomem0");
    write(root, "/sys/bus/iio/devices/iio:device0/name", "dht11\n");
    touch(root, "/sys/bus/iio/devices/iio:device0/in_temp_input");
    touch(root, "/sys/bus/w1/devices/28-0316a2795dff/w1_slave");
    touch(root, "/run/systemd/timesync/synchronized");
    write(
        root,
        "/etc/passwd",
        "root:x:0:0::/root:/bin/sh\npi:x:1000:1000::/home/pi:/bin/bash\n",
    );
    write(
        root,
        "/etc/group",
        "root:x:0:\npi:x:1000:\ni2c:x:998:pi\nspi:x:999:admin,pi\ngpio:x:997:pi\n",
    );
}

fn by_name<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no check named {name}: {checks:#?}"))
}

#[test]
fn a_well_set_up_pi_passes_every_check() {
    let root = tempfile::tempdir().expect("tempdir");
    good_pi(root.path());
    let checks = run_checks_for_user(&specs(), root.path(), "pi");
    let names: Vec<&str> = checks.iter().map(|check| check.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "i2c bus 1",
            "spi 0.1",
            "gpio",
            "sensor hall (dht22)",
            "sensor window (ds18b20)",
            "group gpio",
            "group i2c",
            "group spi",
            "clock synchronized",
        ],
        "one check per bus (bme280 and ads1115 share i2c-1), none for sim"
    );
    for check in &checks {
        assert!(check.ok && check.fix.is_none(), "{check:?}");
    }
}

#[test]
fn every_usual_mistake_is_reported_with_a_fix() {
    let root = tempfile::tempdir().expect("tempdir");
    write(
        root.path(),
        "/etc/passwd",
        "pi:x:1000:1000::/home/pi:/bin/bash\n",
    );
    write(
        root.path(),
        "/etc/group",
        "pi:x:1000:\ni2c:x:998:\nspi:x:999:pi\n",
    );
    write(
        root.path(),
        "/sys/bus/iio/devices/iio:device0/name",
        "ads1015\n",
    );
    let checks = run_checks_for_user(&specs(), root.path(), "pi");
    let expect_fix = |name: &str, fix_part: &str| {
        let check = by_name(&checks, name);
        assert!(!check.ok, "{check:?}");
        let fix = check.fix.as_deref().unwrap_or_default();
        assert!(
            fix.contains(fix_part),
            "{name}: fix '{fix}' lacks '{fix_part}'"
        );
    };
    expect_fix("i2c bus 1", "dtparam=i2c_arm=on");
    expect_fix("spi 0.1", "dtparam=spi=on");
    expect_fix("gpio", "Raspberry Pi");
    expect_fix("sensor hall (dht22)", "dtoverlay=dht11");
    expect_fix("sensor window (ds18b20)", "dtoverlay=w1-gpio");
    expect_fix("group i2c", "usermod -aG i2c pi");
    expect_fix("group gpio", "gpio");
    expect_fix("clock synchronized", "timedatectl");
    assert!(by_name(&checks, "group spi").ok, "pi is in spi");
}

#[test]
fn primary_group_and_root_count_as_membership() {
    let root = tempfile::tempdir().expect("tempdir");
    write(root.path(), "/etc/passwd", "svc:x:1001:998::/:/bin/false\n");
    write(root.path(), "/etc/group", "i2c:x:998:\n");
    let specs = vec![SensorSpec {
        driver: "sht4x".into(),
        ..SensorSpec::default()
    }];
    assert!(
        by_name(
            &run_checks_for_user(&specs, root.path(), "svc"),
            "group i2c"
        )
        .ok
    );
    assert!(
        by_name(
            &run_checks_for_user(&specs, root.path(), "root"),
            "group i2c"
        )
        .ok
    );
    assert!(
        !by_name(
            &run_checks_for_user(&specs, root.path(), "bob"),
            "group i2c"
        )
        .ok
    );
}

#[test]
fn run_checks_on_an_empty_root_still_checks_the_clock() {
    let root = tempfile::tempdir().expect("tempdir");
    let checks = run_checks(&[SensorSpec::default()], root.path());
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "clock synchronized");
    assert!(!checks[0].ok);
}

/// Probes a simulated bus that fails like rppal's `/dev/i2c-1`.
struct SimProbe(officemesh_sensors::simbus::SimI2cBus);

impl officemesh_sensors::rpi::probe::I2cProbe for SimProbe {
    fn probe(&mut self, _bus: u8, address: u8) -> officemesh_sensors::rpi::probe::ProbeOutcome {
        officemesh_sensors::rpi::probe::probe_address(&mut self.0, address)
    }
}

#[test]
fn probing_says_what_answers_and_which_kernel_driver_holds_an_address() {
    use officemesh_sensors::doctor::probe_checks;
    use officemesh_sensors::simbus::{SimAds1115, SimBme280, SimI2cBus};

    let root = tempfile::tempdir().expect("tempdir");
    good_pi(root.path());
    let bus = SimI2cBus::new();
    // The BME280 is at 0x77, not the configured 0x76; the ADS1115 answers at 0x48.
    bus.attach(0x77, SimBme280::new([0; 26], [0; 7], [0; 8]));
    bus.attach(0x48, SimAds1115::new(0, |_| 0));
    let checks = probe_checks(&specs(), root.path(), &mut SimProbe(bus.clone()));
    let desk = by_name(&checks, "i2c 0x76 on bus 1 (sensor desk)");
    assert!(
        !desk.ok && desk.detail.contains("no device at 0x76 on /dev/i2c-1"),
        "{desk:?}"
    );
    assert!(
        desk.fix
            .as_deref()
            .unwrap_or_default()
            .contains("set i2c_address = 0x77"),
        "{desk:?}"
    );
    assert!(by_name(&checks, "i2c 0x48 on bus 1 (sensor mic)").ok);

    // A kernel driver bound to 0x48: sysfs names it, and the probe's EBUSY is reported too.
    std::os::unix::fs::symlink("../../../../bus/i2c/drivers/ads1015", {
        let dir = root.path().join("sys/bus/i2c/devices/1-0048");
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir.join("driver")
    })
    .expect("symlink");
    let checks = probe_checks(&specs(), root.path(), &mut SimProbe(bus.clone()));
    let mic = by_name(&checks, "i2c 0x48 on bus 1 (sensor mic)");
    assert!(
        !mic.ok && mic.detail.contains("kernel driver ads1015"),
        "{mic:?}"
    );
    assert!(
        mic.fix.as_deref().unwrap_or_default().contains("1-0048"),
        "{mic:?}"
    );

    std::fs::remove_dir_all(root.path().join("sys/bus/i2c")).expect("rm");
    bus.hold_by_kernel(0x48);
    let checks = probe_checks(&specs(), root.path(), &mut SimProbe(bus));
    let mic = by_name(&checks, "i2c 0x48 on bus 1 (sensor mic)");
    assert!(
        !mic.ok && mic.detail.contains("held by a kernel driver"),
        "{mic:?}"
    );
}

#[test]
fn two_sensors_on_one_address_are_reported() {
    let root = tempfile::tempdir().expect("tempdir");
    good_pi(root.path());
    let mut specs = specs();
    specs.push(SensorSpec {
        driver: "sht4x".into(),
        name: "shelf".into(),
        i2c_address: Some(0x76),
        ..SensorSpec::default()
    });
    let checks = run_checks_for_user(&specs, root.path(), "pi");
    let check = by_name(&checks, "one sensor per bus device");
    assert!(!check.ok && check.detail.contains("desk") && check.detail.contains("shelf"));
}
