//! deploy/grafana-dashboard.json: valid JSON, a Grafana dashboard on the
//! `${DS_PROMETHEUS}` datasource variable, and every metric name it queries exists in
//! a real `/metrics` scrape of the engine (so a renamed metric breaks this test, not the
//! operators' dashboard).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use switchboard_tests::control_client::Control;
use switchboard_tests::Server;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every PromQL string of the dashboard (panel targets and variable queries).
fn queries(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", Value::String(q)) => out.push(q.clone()),
                    _ => queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| queries(i, out)),
        _ => {}
    }
}

fn metric_names(query: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = query.as_bytes();
    let mut i = 0;
    while let Some(pos) = query[i..].find("switchboard_") {
        let start = i + pos;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            names.insert(query[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[test]
fn the_dashboard_is_valid_and_queries_only_exported_metrics() {
    let dashboard = dashboard();
    let schema = dashboard["schemaVersion"].as_u64().unwrap_or(0);
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "DS_PROMETHEUS" && v["type"] == "datasource"),
        "no DS_PROMETHEUS datasource variable"
    );
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate id"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "panel {}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
    }
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let used: BTreeSet<String> = all.iter().flat_map(|q| metric_names(q)).collect();
    // What the issue asks the dashboard to show.
    for wanted in [
        "switchboard_connections",
        "switchboard_accepts_total",
        "switchboard_rejects_total",
        "switchboard_messages_in_total",
        "switchboard_messages_out_total",
        "switchboard_deliveries_total",
        "switchboard_outbound_queue_bytes",
        "switchboard_delivery_latency_seconds_bucket",
        "switchboard_conversations",
        "switchboard_queue_length",
        "switchboard_degradation_level",
        "switchboard_event_loop_lag_seconds",
        "switchboard_ebpf_enabled",
    ] {
        assert!(
            used.contains(wanted),
            "the dashboard does not show {wanted}"
        );
    }
    assert!(all.iter().any(|q| q.contains("histogram_quantile(0.99")));
    assert!(all.iter().any(|q| q.contains("histogram_quantile(0.5")));
    assert!(all
        .iter()
        .any(|q| q.contains("rate(switchboard_accepts_total")));

    let server = Server::start(&["--shards", "2"]);
    let response = Control::of(&server).request("GET", "/metrics", None);
    assert_eq!(response.status, 200);
    let text = response.body_text();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the engine does not export: {missing:?}\nexported: {exported:?}"
    );
}
