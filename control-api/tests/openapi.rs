//! `openapi.yaml` and the server's route table list exactly the same operations.

use std::collections::BTreeSet;

use switchboard_control_api::routes::ROUTES;
use switchboard_control_api::OPENAPI_YAML;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn document() -> serde_yaml::Value {
    serde_yaml::from_str(OPENAPI_YAML).expect("openapi.yaml parses")
}

#[test]
fn document_and_routes_agree() {
    let doc = document();
    assert_eq!(
        doc["openapi"].as_str().unwrap().split('.').next(),
        Some("3")
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(served.len(), ROUTES.len(), "duplicate routes");
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not documented: {missing:?}; documented but not served: {extra:?}"
    );
}

#[test]
fn security_in_the_document_matches_the_routes() {
    let doc = document();
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method.to_lowercase().as_str()];
        let open = op["security"].as_sequence().is_some_and(|s| s.is_empty());
        assert_eq!(open, !route.auth, "{} {}", route.method, route.path);
    }
}

#[test]
fn every_path_parameter_is_declared() {
    let doc = document();
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method.to_lowercase().as_str()];
        let declared: BTreeSet<String> = op["parameters"]
            .as_sequence()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"].as_str() == Some("path"))
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let in_path: BTreeSet<String> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        assert_eq!(declared, in_path, "{} {}", route.method, route.path);
        assert!(
            op["responses"]["200"].is_mapping(),
            "{} {}",
            route.method,
            route.path
        );
    }
}
