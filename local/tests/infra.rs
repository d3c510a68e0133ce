//! The deployment, checked offline: the SAM template's routes agree with the local runner's and
//! cargo-lambda's, and `infra/rollback` moves aliases as it says, against an emulated Lambda API
//! (moto) on loopback. Needs `aws` and `moto_server` on PATH (scripts/test installs them).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use shared::http::routes;
use shared::testing::lambda::Moto;
use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

fn template() -> Yaml {
    YamlLoader::load_from_str(TEMPLATE)
        .expect("infra/template.yaml is YAML")
        .remove(0)
}

/// The functions of the template: their resource, the crate they are built from, their events.
fn functions(template: &Yaml) -> Vec<(String, String, Yaml)> {
    template["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, resource)| {
            let code = resource["Properties"]["CodeUri"].as_str().unwrap();
            let package = code
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            (
                name.as_str().unwrap().to_owned(),
                package,
                resource["Properties"]["Events"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_template_serves_the_same_routes_as_the_local_runner_and_cargo_lambda() {
    let template = template();
    let mut from_template = BTreeSet::new();
    for (_, package, events) in functions(&template) {
        for (_, event) in events.as_hash().unwrap() {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                from_template.insert((
                    properties["Method"].as_str().unwrap().to_owned(),
                    properties["Path"].as_str().unwrap().to_owned(),
                    package.clone(),
                ));
            }
        }
    }
    assert_eq!(from_template, served_routes());
}

/// The routes the local runner serves: (method, path, function).
fn served_routes() -> BTreeSet<(String, String, String)> {
    routes::ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_cargo_lambda_watch_router_serves_the_same_routes() {
    let manifest: toml::Table = include_str!("../../Cargo.toml").parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut from_router = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().unwrap() {
            from_router.insert((
                target["method"].as_str().unwrap().to_owned(),
                path.clone(),
                target["function"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert_eq!(from_router, served_routes());
}

#[test]
fn every_function_crate_is_deployed_with_a_live_alias_and_the_evaluator_is_scheduled() {
    let template = template();
    let deployed: BTreeSet<String> = functions(&template).into_iter().map(|f| f.1).collect();
    let crates: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
    assert_eq!(deployed, crates);
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"].as_str(), Some("live"));
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let evaluator = &template["Resources"]["AlertEvaluatorFunction"]["Properties"];
    let schedule = &evaluator["Events"]["EveryFiveMinutes"];
    assert_eq!(schedule["Type"].as_str(), Some("Schedule"));
    assert_eq!(
        schedule["Properties"]["Schedule"].as_str(),
        Some("rate(5 minutes)")
    );
    assert!(!schedule["Properties"]["DeadLetterConfig"].is_badvalue());
}

fn rollback(moto: &Moto, args: &[&str]) -> Output {
    moto.command("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/rollback"))
        .args(args)
        .output()
        .unwrap()
}

/// A function with `versions` published versions and its `live` alias on the last one.
fn function(moto: &Moto, name: &str, versions: usize, zip: &Path) {
    let role = "arn:aws:iam::123456789012:role/max-lambda";
    let code = format!("fileb://{}", zip.display());
    moto.aws(&[
        "lambda",
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "provided.al2023",
        "--handler",
        "bootstrap",
        "--role",
        role,
        "--zip-file",
        &code,
    ]);
    for version in 1..=versions {
        moto.aws(&[
            "lambda",
            "update-function-configuration",
            "--function-name",
            name,
            "--description",
            &format!("build {version}"),
        ]);
        moto.aws(&["lambda", "publish-version", "--function-name", name]);
    }
    moto.aws(&[
        "lambda",
        "create-alias",
        "--function-name",
        name,
        "--name",
        "live",
        "--function-version",
        &versions.to_string(),
    ]);
}

fn live(moto: &Moto, name: &str) -> String {
    moto.aws(&[
        "lambda",
        "get-alias",
        "--function-name",
        name,
        "--name",
        "live",
        "--query",
        "FunctionVersion",
        "--output",
        "text",
    ])
}

#[test]
fn rollback_moves_every_live_alias_back_in_one_step_or_refuses_and_moves_nothing() {
    let moto = Moto::start();
    let dir = std::env::temp_dir().join(format!("max-rollback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("bootstrap.zip");
    // The smallest valid zip: an empty archive.
    std::fs::write(
        &zip,
        [
            0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .unwrap();
    moto.aws(&[
        "iam",
        "create-role",
        "--role-name",
        "max-lambda",
        "--assume-role-policy-document",
        "{}",
    ]);
    function(&moto, "log-activity", 3, &zip);
    function(&moto, "active-alerts", 3, &zip);

    let dry = rollback(
        &moto,
        &["--functions", "log-activity,active-alerts", "--dry-run"],
    );
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        text.contains("would move log-activity:live from version 3 to 2"),
        "{text}"
    );
    assert_eq!(
        (live(&moto, "log-activity"), live(&moto, "active-alerts")),
        ("3".into(), "3".into())
    );

    let done = rollback(&moto, &["--functions", "log-activity,active-alerts"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        (live(&moto, "log-activity"), live(&moto, "active-alerts")),
        ("2".into(), "2".into())
    );

    let pinned = rollback(
        &moto,
        &["--functions", "log-activity,active-alerts", "--to", "3"],
    );
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    assert_eq!(
        (live(&moto, "log-activity"), live(&moto, "active-alerts")),
        ("3".into(), "3".into())
    );

    // A function with no earlier version: the whole rollback is refused, nothing moves.
    function(&moto, "resolve-alert", 1, &zip);
    let refused = rollback(&moto, &["--functions", "log-activity,resolve-alert"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing to roll back to"));
    assert_eq!(live(&moto, "log-activity"), "3");
    let missing = rollback(&moto, &["--functions", "log-activity", "--to", "9"]);
    assert!(!missing.status.success());
    assert_eq!(live(&moto, "log-activity"), "3");
    let _ = std::fs::remove_dir_all(&dir);
}
