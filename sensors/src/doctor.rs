//! Doctor checks: what people usually get wrong on a Pi before a sensor works — the bus not
//! enabled in `config.txt`, a device node missing, the user not in the `i2c`/`spi`/`gpio`
//! group, the DHT or 1-wire overlay not loaded, the clock not synchronized. Each check returns
//! a [`Check`] with a one-line fix. Every path is under a `root` passed in (normally `/`), so
//! tests run against fixture directories. The file checks never open a bus; [`probe_checks`]
//! (run by [`run_checks`] on the real root `/`) also probes each configured I2C address through
//! an [`I2cProbe`] and reports a kernel driver bound to it (sysfs, and EBUSY from the probe).
//! Two entries on one bus device are reported too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::kind::{DriverKind, Interface};
use crate::rpi::probe::{I2cProbe, ProbeOutcome};
use crate::spec::{check_unique_devices, SensorSpec};
use crate::sysfs::DhtIio;

/// Where Raspberry Pi OS keeps `config.txt` (Bookworm; older releases: `/boot/config.txt`).
const CONFIG_TXT: &str = "/boot/firmware/config.txt";

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`i2c bus 1`, `group i2c`, `clock synchronized`).
    pub name: String,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check the configured sensors need, as the current user, with paths under `root`.
/// With `root` = `/` (the machine itself) each configured I2C address is probed too.
pub fn run_checks(specs: &[SensorSpec], root: &Path) -> Vec<Check> {
    let checks = run_checks_for_user(specs, root, &current_user(root));
    #[cfg(feature = "rpi")]
    let checks = if root == Path::new("/") {
        let mut checks = checks;
        checks.extend(probe_checks(
            specs,
            root,
            &mut crate::rpi::probe::LinuxI2cProbe,
        ));
        checks
    } else {
        checks
    };
    checks
}

/// Probes the I2C address of every I2C entry whose bus exists under `root`: says what answered,
/// which kernel driver is bound to it (`/sys/bus/i2c/devices/B-00AA/driver`), and, for a BME280
/// that does not answer, whether something answers at its other address.
pub fn probe_checks(specs: &[SensorSpec], root: &Path, prober: &mut dyn I2cProbe) -> Vec<Check> {
    let mut checks = Vec::new();
    for spec in specs {
        let Ok(kind) = spec.driver_kind() else {
            continue;
        };
        let Some(address) = spec.i2c_address_or_default(kind) else {
            continue;
        };
        if kind.interface() != Interface::I2c
            || !under(root, &format!("/dev/i2c-{}", spec.i2c_bus)).exists()
        {
            continue;
        }
        checks.push(probe_check(spec, kind, address, root, prober));
    }
    checks
}

/// The kernel driver bound to `address` on `bus`, from sysfs.
fn bound_driver(root: &Path, bus: u8, address: u8) -> Option<String> {
    let link = under(
        root,
        &format!("/sys/bus/i2c/devices/{bus}-{address:04x}/driver"),
    );
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn probe_check(
    spec: &SensorSpec,
    kind: DriverKind,
    address: u8,
    root: &Path,
    prober: &mut dyn I2cProbe,
) -> Check {
    let bus = spec.i2c_bus;
    let path = format!("/dev/i2c-{bus}");
    let name = format!("i2c {address:#04x} on bus {bus} (sensor {})", spec.name);
    let unbind = |driver: &str| unbind_fix(driver, bus, address);
    if let Some(driver) = bound_driver(root, bus, address) {
        return Check::fail(
            name,
            format!(
                "kernel driver {driver} is bound to {address:#04x} on {path}: the agent \
                     gets EBUSY"
            ),
            unbind(&driver),
        );
    }
    match prober.probe(bus, address) {
        ProbeOutcome::Answered => Check::pass(
            name,
            format!("a device answers at {address:#04x} on {path}"),
        ),
        ProbeOutcome::Busy(err) => Check::fail(
            name,
            format!("{address:#04x} on {path} is held by a kernel driver ({err})"),
            unbind("the driver"),
        ),
        ProbeOutcome::NoAnswer(err) => {
            let fix = no_answer_fix(kind, bus, address, prober);
            Check::fail(
                name,
                format!("no device at {address:#04x} on {path} ({err})"),
                fix,
            )
        }
        ProbeOutcome::BusMissing(err) => Check::fail(
            name,
            format!("cannot open {path}: {err}"),
            "see the i2c bus check above",
        ),
        ProbeOutcome::Failed(err) => Check::fail(
            name,
            format!("probing {address:#04x} on {path} failed: {err}"),
            "check the pull-ups and wiring; EIO often means SDA/SCL are swapped or floating",
        ),
    }
}

/// How to get a kernel driver off `address` on `bus` (the agent needs the bus to itself).
fn unbind_fix(driver: &str, bus: u8, address: u8) -> String {
    format!(
        "remove the `dtoverlay=i2c-sensor,…` (or other) line that loads {driver} from \
         {CONFIG_TXT} and reboot, or now: echo {bus}-{address:04x} | sudo tee \
         /sys/bus/i2c/drivers/{driver}/unbind"
    )
}

/// The fix for a device that does not answer: the wiring, and for a BME280 whether something
/// answers at its other address.
fn no_answer_fix(kind: DriverKind, bus: u8, address: u8, prober: &mut dyn I2cProbe) -> String {
    let mut fix = "check the wiring (SDA, SCL, 3.3 V, GND); `i2cdetect -y 1` lists what \
                   answers"
        .to_string();
    if kind == DriverKind::Bme280 {
        let other = crate::drivers::bme280::other_address(address);
        fix = match prober.probe(bus, other) {
            ProbeOutcome::Answered => {
                format!("something answers at {other:#04x}: set i2c_address = {other:#04x}")
            }
            _ => format!("nothing answers at {other:#04x} either; {fix}"),
        };
    }
    fix
}

/// [`run_checks`] for a named user (tests, or `doctor --user pi`).
pub fn run_checks_for_user(specs: &[SensorSpec], root: &Path, user: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut groups = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for spec in specs {
        let Ok(kind) = spec.driver_kind() else {
            checks.push(Check::fail(
                format!("sensor {}", spec.name),
                format!("unknown driver '{}'", spec.driver),
                "use one of the drivers listed in docs/sensors.md",
            ));
            continue;
        };
        let check = match kind.interface() {
            Interface::None => continue,
            Interface::I2c => {
                groups.insert("i2c");
                if !seen.insert(format!("i2c{}", spec.i2c_bus)) {
                    continue;
                }
                check_i2c(root, spec.i2c_bus)
            }
            Interface::Spi => {
                groups.insert("spi");
                if !seen.insert(format!("spi{}.{}", spec.spi_bus, spec.spi_chip_select)) {
                    continue;
                }
                check_spi(root, spec.spi_bus, spec.spi_chip_select)
            }
            Interface::Gpio => {
                groups.insert("gpio");
                if !seen.insert("gpio".into()) {
                    continue;
                }
                check_gpio(root)
            }
            Interface::Iio => check_dht(root, spec, kind),
            Interface::OneWire => check_one_wire(root, spec),
        };
        checks.push(check);
    }
    if let Err(err) = check_unique_devices(specs) {
        checks.push(Check::fail(
            "one sensor per bus device",
            err.to_string(),
            "each [[sensors]] entry needs its own I2C address, SPI chip select or GPIO pin",
        ));
    }
    for group in groups {
        checks.push(check_group(root, user, group));
    }
    checks.push(check_clock(root));
    checks
}

/// `root` joined with an absolute path.
fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn check_i2c(root: &Path, bus: u8) -> Check {
    let node = format!("/dev/i2c-{bus}");
    let name = format!("i2c bus {bus}");
    if under(root, &node).exists() {
        Check::pass(name, format!("{node} present"))
    } else {
        Check::fail(
            name,
            format!("{node} missing: I2C is not enabled"),
            format!(
                "add `dtparam=i2c_arm=on` to {CONFIG_TXT} (or run `sudo raspi-config nonint \
                 do_i2c 0`) and reboot"
            ),
        )
    }
}

fn check_spi(root: &Path, bus: u8, chip_select: u8) -> Check {
    let node = format!("/dev/spidev{bus}.{chip_select}");
    let name = format!("spi {bus}.{chip_select}");
    if under(root, &node).exists() {
        Check::pass(name, format!("{node} present"))
    } else {
        let fix = if bus == 0 {
            format!(
                "add `dtparam=spi=on` to {CONFIG_TXT} (or run `sudo raspi-config nonint do_spi \
                 0`) and reboot"
            )
        } else {
            format!("add `dtoverlay=spi{bus}-1cs` (or -2cs/-3cs) to {CONFIG_TXT} and reboot")
        };
        Check::fail(name, format!("{node} missing: SPI is not enabled"), fix)
    }
}

fn check_gpio(root: &Path) -> Check {
    let nodes = ["/dev/gpiomem", "/dev/gpiomem0", "/dev/gpiochip0"];
    match nodes.iter().find(|node| under(root, node).exists()) {
        Some(node) => Check::pass("gpio", format!("{node} present")),
        None => Check::fail(
            "gpio",
            "no /dev/gpiomem or /dev/gpiochip0: not a Raspberry Pi, or a kernel without GPIO",
            "run on Raspberry Pi OS; rppal supports the Pi 1–5 (the Pi 5 through RP1)",
        ),
    }
}

fn check_dht(root: &Path, spec: &SensorSpec, kind: DriverKind) -> Check {
    let name = format!("sensor {} ({})", spec.name, kind.as_str());
    let sensor = DhtIio::new(
        &spec.name,
        kind,
        &under(root, "/sys"),
        &spec.device,
        spec.retry_policy(),
    );
    let fix = format!(
        "add `dtoverlay=dht11,gpiopin=4` (the BCM pin DATA is wired to; for DHT22 too) to \
         {CONFIG_TXT} and reboot; check the 10 kΩ pull-up"
    );
    match sensor.device_dir() {
        Ok(dir) if dir.join("in_temp_input").exists() => {
            Check::pass(name, format!("IIO device {}", dir.display()))
        }
        Ok(dir) => Check::fail(name, format!("{} has no in_temp_input", dir.display()), fix),
        Err(err) => Check::fail(name, err.to_string(), fix),
    }
}

fn check_one_wire(root: &Path, spec: &SensorSpec) -> Check {
    let name = format!("sensor {} (ds18b20)", spec.name);
    let sensor = crate::sysfs::Ds18b20::new(
        &spec.name,
        &under(root, "/sys"),
        &spec.device,
        spec.retry_policy(),
    );
    let fix = format!(
        "add `dtoverlay=w1-gpio,gpiopin=4` (the BCM pin DQ is wired to) to {CONFIG_TXT}, fit a \
         4.7 kΩ pull-up between DQ and 3.3 V, and reboot"
    );
    match sensor.device_dir() {
        Ok(dir) if dir.exists() => Check::pass(name, format!("1-wire device {}", dir.display())),
        Ok(dir) => Check::fail(name, format!("{} missing", dir.display()), fix),
        Err(err) => Check::fail(name, err.to_string(), fix),
    }
}

/// Whether `user` is in `group`, per `/etc/group` members or the primary group in
/// `/etc/passwd`. root needs no group.
fn check_group(root: &Path, user: &str, group: &str) -> Check {
    let name = format!("group {group}");
    if user == "root" {
        return Check::pass(name, "running as root (no group needed)");
    }
    let groups = std::fs::read_to_string(under(root, "/etc/group")).unwrap_or_default();
    let passwd = std::fs::read_to_string(under(root, "/etc/passwd")).unwrap_or_default();
    let Some(group_line) = groups
        .lines()
        .map(|line| line.split(':').collect::<Vec<&str>>())
        .find(|fields| fields.len() >= 4 && fields[0] == group)
    else {
        return Check::fail(
            name,
            format!("no group '{group}' on this system"),
            "run on Raspberry Pi OS, whose udev rules create the gpio/i2c/spi groups",
        );
    };
    let is_member = group_line[3].split(',').any(|member| member.trim() == user);
    let is_primary = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<&str>>())
        .any(|fields| fields.len() >= 4 && fields[0] == user && fields[3] == group_line[2]);
    if is_member || is_primary {
        Check::pass(name, format!("{user} is in {group}"))
    } else {
        Check::fail(
            name,
            format!("{user} is not in {group}: opening the device fails with permission denied"),
            format!("sudo usermod -aG {group} {user} (then log in again or restart the service)"),
        )
    }
}

/// Whether systemd-timesyncd reports the clock synchronized (it creates
/// `/run/systemd/timesync/synchronized`). A Pi has no RTC: until NTP answers its clock is off.
fn check_clock(root: &Path) -> Check {
    let marker = "/run/systemd/timesync/synchronized";
    if under(root, marker).exists() {
        Check::pass("clock synchronized", format!("{marker} present"))
    } else {
        Check::fail(
            "clock synchronized",
            format!("{marker} missing: the clock may be wrong (a Pi has no battery clock)"),
            "sudo timedatectl set-ntp true; make sure UDP port 123 reaches an NTP server \
             (with chrony instead of timesyncd, check `chronyc tracking`)",
        )
    }
}

/// The user this process runs as: `$USER`, else the name of our uid in `<root>/etc/passwd`.
fn current_user(root: &Path) -> String {
    if let Ok(user) = std::env::var("USER") {
        if !user.is_empty() {
            return user;
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(1).map(str::to_string))
        });
    let passwd = std::fs::read_to_string(under(root, "/etc/passwd")).unwrap_or_default();
    uid.and_then(|uid| {
        passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<&str>>())
            .find(|fields| fields.len() >= 3 && fields[2] == uid)
            .map(|fields| fields[0].to_string())
    })
    .unwrap_or_else(|| "unknown".into())
}
