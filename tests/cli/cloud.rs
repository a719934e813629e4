//! Object storage without a server: what fails before or instead of any request. The real
//! S3 server's tests (fits, shards, transforms, refused credentials, missing buckets) are
//! `tests/s3/run.sh`, which `.ci/run` runs against moto.

use super::common::*;

const SECRET: &str = "never-in-any-message-9f3k";

fn with_unreachable_store(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    // port 1 on loopback: nothing listens, every request is refused at once
    cmd.env("AWS_ENDPOINT", "http://127.0.0.1:1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test-key")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
}

fn one_line_error(out: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains(SECRET), "the secret is in: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    stderr
}

#[test]
fn an_unreachable_store_is_one_io_error_naming_the_url_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        "name: s3\ninput:\n  path: s3://bucket/events/*.parquet\nsteps:\n  - pca: { n_components: 2 }\noutput:\n  dir: out\n",
    );
    let out = with_unreachable_store(dimred().arg("validate").arg(&p))
        .output()
        .unwrap();
    let err = one_line_error(&out, 4);
    assert!(err.contains("s3://bucket/events/*.parquet"), "{err}");
}

#[test]
fn an_unreachable_output_bucket_fails_before_reading_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let p = pipeline(
        dir.path(),
        &format!(
            "name: s3\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: s3://bucket/models/today/\n",
            data.display()
        ),
    );
    let out = with_unreachable_store(dimred().args(["run", "-q"]).arg(&p))
        .output()
        .unwrap();
    let err = one_line_error(&out, 4);
    assert!(
        err.contains("cannot write to output folder s3://bucket/models/today"),
        "{err}"
    );
    assert!(files_in(dir.path()).iter().all(|f| f == "pipeline.yaml"));
}

#[test]
fn resume_needs_a_local_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let p = pipeline(
        dir.path(),
        &format!(
            "name: s3\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\nsteps:\n  - scale: {{ method: standard }}\n  - autoencoder: {{ encoder: [8], latent: 2, epochs: 1 }}\noutput:\n  dir: s3://bucket/ae\n",
            data.display()
        ),
    );
    let out = with_unreachable_store(dimred().args(["run", "-q", "--resume"]).arg(&p))
        .output()
        .unwrap();
    let err = one_line_error(&out, 2);
    assert!(err.contains("--resume"), "{err}");
}

#[test]
fn a_bucket_named_like_a_secret_is_masked_in_the_whole_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        &format!(
            "name: s3\ninput:\n  path: s3://{SECRET}/events/*.parquet\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: out\n"
        ),
    );
    let out = with_unreachable_store(dimred().arg("validate").arg(&p))
        .output()
        .unwrap();
    let err = one_line_error(&out, 4);
    assert!(err.contains("s3://***/events/*.parquet"), "{err}");
}
