//! Reading a document from a file or URL, as JSON or YAML.

use crate::error::HarnessError;
use kit_formats::bundle::{bundle, external_refs};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

pub use kit_formats::yaml::parse;

/// Reads `source` (a path, or an http(s) URL) and parses it as JSON, else YAML. Relative
/// `$ref`s into other files (`model.schema.json`) are read relative to `source` and bundled
/// in, as the reference server does for `schemas/openapi.yaml`, so the result is one
/// self-contained document.
pub async fn load(source: &str) -> Result<Value, HarnessError> {
    let mut doc = read_parsed(source).await?;
    let mut files: HashMap<String, Value> = HashMap::new();
    let mut todo: Vec<String> = external_refs(&doc).into_iter().collect();
    while let Some(file) = todo.pop() {
        if files.contains_key(&file) {
            continue;
        }
        let value = read_parsed(&sibling(source, &file)?).await?;
        todo.extend(external_refs(&value));
        files.insert(file, value);
    }
    bundle(&mut doc, &mut |file| {
        files
            .get(file)
            .cloned()
            .ok_or_else(|| "not loaded".to_owned())
    })
    .map_err(|e| HarnessError::Usage(format!("{source}: {e}")))?;
    Ok(doc)
}

async fn read_parsed(source: &str) -> Result<Value, HarnessError> {
    let text = if is_url(source) {
        fetch(source).await?
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| HarnessError::Usage(format!("cannot read {source}: {e}")))?
    };
    parse(&text).map_err(|e| HarnessError::Usage(format!("{source}: {e}")))
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// `file` as referenced from the document at `source`.
fn sibling(source: &str, file: &str) -> Result<String, HarnessError> {
    if is_url(source) {
        url::Url::parse(source)
            .and_then(|u| u.join(file))
            .map(String::from)
            .map_err(|e| HarnessError::Usage(format!("{source}: cannot resolve {file}: {e}")))
    } else {
        let dir = Path::new(source).parent().unwrap_or(Path::new(""));
        Ok(dir.join(file).to_string_lossy().into_owned())
    }
}

async fn fetch(url: &str) -> Result<String, HarnessError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| HarnessError::Usage(format!("cannot build the HTTP client: {e}")))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| HarnessError::Unreachable(format!("{url}: {e}")))?;
    if !response.status().is_success() {
        return Err(HarnessError::Usage(format!(
            "{url} answered HTTP {}",
            response.status().as_u16()
        )));
    }
    response
        .text()
        .await
        .map_err(|e| HarnessError::Unreachable(format!("{url}: {e}")))
}
