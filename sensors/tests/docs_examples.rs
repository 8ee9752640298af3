//! Every `[[sensors]]` TOML example in docs/sensors.md parses and validates, so the docs cannot
//! drift from `SensorSpec`.

use officemesh_sensors::SensorSpec;

#[test]
fn sensor_examples_in_the_docs_are_valid() {
    let docs = include_str!("../../docs/sensors.md");
    let mut checked = 0;
    for block in docs.split("```toml").skip(1) {
        let Some((toml_text, _)) = block.split_once("```") else {
            panic!("unterminated toml block");
        };
        if !toml_text.contains("[[sensors]]") {
            continue;
        }
        let table: toml::Table =
            toml::from_str(toml_text).unwrap_or_else(|err| panic!("{toml_text}\n→ {err}"));
        let specs: Vec<SensorSpec> = table["sensors"]
            .clone()
            .try_into()
            .unwrap_or_else(|err| panic!("{toml_text}\n→ {err}"));
        for spec in specs {
            spec.validate()
                .unwrap_or_else(|err| panic!("{toml_text}\n→ {err}"));
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} sensor examples found");
}
