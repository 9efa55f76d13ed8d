//! `ctl` against the fake engine: tables, --json, errors.

mod common;

use clap::Parser;
use common::*;
use switchboard_control_api::{run_ctl_to, CtlArgs};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    ctl: CtlArgs,
}

fn ctl(addr: std::net::SocketAddr, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec![
        "ctl".to_owned(),
        "--addr".into(),
        addr.to_string(),
        "--token".into(),
        TOKEN.into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(argv)?;
    let mut out = Vec::new();
    run_ctl_to(cli.ctl, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn commands_print_tables_and_json() {
    let (server, engine) = start(Some(TOKEN));
    let addr = server.local_addr();
    let stats = ctl(addr, &["stats"]).unwrap();
    assert!(stats.contains("SHARD") && stats.contains("all"), "{stats}");
    let list = ctl(addr, &["conversations", "--state", "serving"]).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.lines().nth(1).unwrap().contains("a1"));
    let json = ctl(addr, &["--json", "conversations"]).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["conversations"].as_array().unwrap().len(), 3);
    assert!(ctl(addr, &["conversation", "2"]).unwrap().contains("hello"));
    assert!(ctl(addr, &["assign", "1", "a2"])
        .unwrap()
        .contains("serving"));
    assert!(ctl(addr, &["say", "2", "hi there", "--bot", "helper"])
        .unwrap()
        .contains("seq"));
    let agent = ctl(
        addr,
        &["agent", "a2", "--weight", "7", "--groups", "vip,billing"],
    )
    .unwrap();
    assert!(agent.contains("vip,billing"), "{agent}");
    assert!(ctl(addr, &["agents"]).unwrap().contains("a1"));
    assert!(ctl(addr, &["kick", "--user", "v1", "--reason", "bye"])
        .unwrap()
        .contains("closed 2"));
    assert!(ctl(addr, &["kick", "10"]).unwrap().contains("closed 1"));
    assert!(ctl(addr, &["degrade", "2"])
        .unwrap()
        .contains("level 2 (pinned)"));
    assert!(ctl(addr, &["degrade", "auto"])
        .unwrap()
        .contains("automatic"));
    assert!(ctl(addr, &["drain", "--status"])
        .unwrap()
        .contains("not draining"));
    assert!(ctl(addr, &["drain"]).unwrap().contains("draining"));
    assert!(engine.state.lock().unwrap().draining);
    assert!(ctl(addr, &["metrics"])
        .unwrap()
        .contains("switchboard_connections"));
    let nodes = ctl(addr, &["nodes"]).unwrap();
    assert!(
        nodes.starts_with("mode cluster  redis redis://:***@127.0.0.1:6379/ (connected)\n"),
        "{nodes}"
    );
    assert!(nodes.contains("HEARTBEAT_AGE"), "{nodes}");
    assert_eq!(
        nodes
            .lines()
            .filter(|l| l.contains("127.0.0.1:808"))
            .count(),
        2
    );
    let json = ctl(addr, &["--json", "nodes"]).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["nodes"].as_array().unwrap().len(), 2);
    engine.state.lock().unwrap().nodes = None;
    let err = ctl(addr, &["nodes"]).unwrap_err();
    assert!(format!("{err:#}").contains("503 unavailable"), "{err:#}");
    server.shutdown();
}

#[test]
fn errors_carry_the_code() {
    let (server, _) = start(Some(TOKEN));
    let addr = server.local_addr();
    let err = ctl(addr, &["end", "99"]).unwrap_err();
    assert!(format!("{err:#}").contains("not_found"), "{err:#}");
    let err = ctl(addr, &["degrade", "7"]).unwrap_err();
    assert!(err.to_string().contains("0, 1, 2, 3 or auto"));
    let mut argv = vec!["ctl", "--addr"];
    let a = addr.to_string();
    argv.extend([a.as_str(), "stats"]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let err = run_ctl_to(cli.ctl, &mut Vec::new()).unwrap_err();
    assert!(format!("{err:#}").contains("unauthorized"), "{err:#}");
    server.shutdown();
}
