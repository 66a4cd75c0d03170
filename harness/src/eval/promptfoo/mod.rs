//! promptfoo configs (`promptfooconfig.yaml`): prompts × tests (× providers), each pair read as
//! the case it stands for in this kit's case format, so it is checked, asked, graded and
//! reported as any case is.
//!
//! Read: `description`, `prompts` (inline, `file://` text or chat JSON), `providers` of the
//! `openai:chat:MODEL`, `openai:responses:MODEL` and `openai:MODEL` kinds (their sampling
//! settings), `tests` (inline, or `file://` CSV, YAML, JSON or JSONL), `defaultTest`, `vars`
//! with `{{var}}` substitution, and the assertions `assertions` maps. Anything that cannot be
//! honoured is an error at its file and line, naming what is unsupported; nothing is skipped.

mod assertions;
mod tests_file;

use super::case::{self, Format, Reading, Suite, SuiteError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Top-level keys read, and those that change nothing about what is asked or graded.
const READ: [&str; 5] = [
    "description",
    "prompts",
    "providers",
    "tests",
    "defaultTest",
];
const HARMLESS: [&str; 8] = [
    "outputPath",
    "sharing",
    "writeLatestResults",
    "evaluateOptions",
    "tags",
    "commandLineOptions",
    "metadata",
    "$schema",
];

/// Whether `path` holds a promptfoo config: a YAML file, or a JSON one, whose top level has
/// `prompts` and `tests` or `providers`.
pub fn looks_like(path: &Path) -> bool {
    let yaml = path
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    yaml && std::fs::read_to_string(path)
        .ok()
        .and_then(|t| kit_formats::yaml::parse(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| {
            o.contains_key("prompts") && (o.contains_key("tests") || o.contains_key("providers"))
        })
}

/// Reads the config at `path` as the suite of its cases; what is wrong is shown where it was
/// written in the config (or its tests file).
pub fn load(path: &Path, reading: &Reading) -> Result<Suite, Vec<SuiteError>> {
    let translated = translate(path, reading.providers_as_targets)?;
    let kit = Reading {
        format: Some(Format::Kit),
        ..*reading
    };
    let file = path.display().to_string();
    let suite = case::parse(&file, &translated.text, &kit).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let (file, line) = translated
                    .origins
                    .get(e.line.saturating_sub(1))
                    .cloned()
                    .unwrap_or((file.clone(), 1));
                SuiteError {
                    file,
                    line,
                    column: 1,
                    ..e
                }
            })
            .collect::<Vec<_>>()
    })?;
    Ok(suite.read_from(Format::Promptfoo, translated.origins))
}

/// A config read as our suite: its text (a suite line, then one case per line) and, for each
/// of its lines, where in the config that line comes from (`file:line`), for errors.
struct Translated {
    /// The suite, in our JSONL format.
    text: String,
    /// The origin of each line of `text`, in order.
    origins: Vec<(String, usize)>,
}

/// One test, as written (inline, or a row of a tests file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Test {
    description: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    assert: Vec<assertions::Assertion>,
    threshold: Option<f64>,
    #[serde(default)]
    metadata: Map<String, Value>,
    options: Option<Value>,
}

/// A test and where it was written.
struct Located {
    test: Test,
    file: String,
    line: usize,
}

/// A provider we can ask: its label, API and model, its sampling settings, and the deployment
/// it names of its own, if any.
struct Provider {
    label: String,
    api: &'static str,
    model: String,
    sampling: Map<String, Value>,
    deployment: Deployment,
    line: usize,
}

/// Where a provider says it is asked: `apiBaseUrl` (or `apiHost`), with `apiKeyEnvar` or
/// `apiKey`; what it leaves out is promptfoo's default (`OPENAI_BASE_URL`, `OPENAI_API_KEY`).
#[derive(Default)]
struct Deployment {
    url: Option<String>,
    key_env: Option<String>,
    key: Option<String>,
}

impl Deployment {
    fn named(&self) -> bool {
        self.url.is_some() || self.key_env.is_some() || self.key.is_some()
    }
}

/// A prompt: its label, and a text or chat messages with `{{var}}` in them.
struct Prompt {
    label: String,
    template: Value,
}

/// The config at `path`: its file name as shown, its text and its top-level mapping.
fn read_config(path: &Path) -> Result<(String, String, Map<String, Value>), Vec<SuiteError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![error(&file, 1, format!("cannot read the config: {e}"))])?;
    let config = kit_formats::yaml::parse(&text)
        .map_err(|e| vec![error(&file, 1, format!("not a promptfoo config: {e}"))])?;
    let Value::Object(config) = config else {
        return Err(vec![error(
            &file,
            1,
            "not a promptfoo config: the top level is not a mapping".into(),
        )]);
    };
    Ok((file, text, config))
}

/// The providers of the config at `path` as the targets of a comparison (`--compare`): each
/// asked at its `apiBaseUrl` with its key, its model, API and sampling settings.
pub(crate) fn targets(
    path: &Path,
) -> Result<Vec<super::compare::Contender>, crate::error::HarnessError> {
    let usage = |errors: Vec<SuiteError>| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        crate::error::HarnessError::Usage(shown.join("\n"))
    };
    let (file, text, config) = read_config(path).map_err(usage)?;
    let at = |needle: &str| line_of(&text, needle);
    let providers = providers(config.get("providers"), &file, &at).map_err(usage)?;
    if providers.len() < 2 {
        return Err(usage(vec![error(
            &file,
            at("providers:").max(1),
            format!(
                "--compare asks each provider as a target: this config has {} provider(s), a comparison needs two",
                providers.len()
            ),
        )]));
    }
    let mut errors = Vec::new();
    let mut out: Vec<super::compare::Contender> = Vec::new();
    for p in providers {
        let mut name: String = p
            .label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .trim_start_matches(['.', '_', '-'])
            .chars()
            .take(60)
            .collect();
        if name.is_empty() {
            name = "provider".into();
        }
        let base = name.clone();
        let mut n = 2;
        while out.iter().any(|c| c.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        let url = p
            .deployment
            .url
            .clone()
            .or_else(|| {
                std::env::var("OPENAI_BASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        let key = match (&p.deployment.key_env, &p.deployment.key) {
            (Some(var), _) => match std::env::var(var).ok().filter(|v| !v.is_empty()) {
                Some(key) => Some(key),
                None => {
                    errors.push(error(
                        &file,
                        p.line,
                        format!(
                            "provider {:?}: apiKeyEnvar: the variable {var} is not set",
                            p.label
                        ),
                    ));
                    None
                }
            },
            (None, Some(key)) => Some(key.clone()),
            (None, None) => std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|v| !v.is_empty()),
        };
        let number = |k: &str| p.sampling.get(k).and_then(Value::as_f64);
        out.push(super::compare::Contender {
            name,
            url: Some(url),
            key,
            model: Some(p.model.clone()),
            api: Some(if p.api == "responses" {
                super::case::Api::Responses
            } else {
                super::case::Api::Chat
            }),
            sampling: super::case::Sampling {
                temperature: number("temperature"),
                top_p: number("top_p"),
                seed: p.sampling.get("seed").and_then(Value::as_i64),
                max_output_tokens: p
                    .sampling
                    .get("max_output_tokens")
                    .and_then(Value::as_u64)
                    .and_then(|m| u32::try_from(m).ok()),
            },
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(usage(errors))
    }
}

/// Reads the config at `path` as the text of our suite; `providers_as_targets`: its providers
/// are a comparison's targets, so each test is one case per prompt, not one per provider too.
fn translate(path: &Path, providers_as_targets: bool) -> Result<Translated, Vec<SuiteError>> {
    let (file, text, config) = read_config(path)?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let at = |needle: &str| line_of(&text, needle);
    let mut errors = Vec::new();
    for key in config.keys() {
        if !READ.contains(&key.as_str()) && !HARMLESS.contains(&key.as_str()) {
            errors.push(error(
                &file,
                at(&format!("{key}:")),
                format!(
                    "`{key}` is not supported here: its cases would not be what promptfoo runs"
                ),
            ));
        }
    }
    let prompts = prompts(config.get("prompts"), &dir, &file, &at).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let providers = providers(config.get("providers"), &file, &at).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let default_test: Test = match config.get("defaultTest") {
        None => Test::default(),
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            errors.push(error(
                &file,
                at("defaultTest:"),
                format!("defaultTest: {e}"),
            ));
            Test::default()
        }),
    };
    let tests = tests_file::tests(config.get("tests"), &dir, &file, &text).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    if tests.is_empty() {
        return Err(vec![error(
            &file,
            at("tests:"),
            "the config has no test".into(),
        )]);
    }
    let name = config
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| file.clone(), |s| s.to_string_lossy().into_owned())
        });
    let mut lines = vec![json!({"suite": {"name": name}}).to_string()];
    let mut origins = vec![(file.clone(), 1)];
    // A provider that names a deployment of its own is asked there: only a comparison can.
    if !providers_as_targets {
        for p in providers.iter().filter(|p| p.deployment.named()) {
            errors.push(error(
                &file,
                p.line,
                format!(
                    "provider {:?} names a deployment of its own (apiBaseUrl, apiHost, apiKey or apiKeyEnvar): ask each provider there with --compare {file}, or run the config against one deployment with --target and --api-key",
                    p.label
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    let several = providers.len() > 1 && !providers_as_targets;
    let providers: Vec<Option<Provider>> = if providers.is_empty() || providers_as_targets {
        vec![None]
    } else {
        providers.into_iter().map(Some).collect()
    };
    for provider in &providers {
        for (t, located) in tests.iter().enumerate() {
            let test = merged(&default_test, &located.test);
            let case_at = |message: String| error(&located.file, located.line, message);
            if test.options.is_some() {
                errors.push(case_at(
                    "a test's `options` (transforms, providers, prefixes) are not supported".into(),
                ));
                continue;
            }
            let grader = match assertions::grader(&test.assert, test.threshold, &test.vars) {
                Ok(g) => g,
                Err(message) => {
                    let line = message.kind.as_deref().map_or(located.line, |kind| {
                        line_of(&text, &format!("type: {kind}")).max(1)
                    });
                    let file = if message.kind.is_some() && located.file != file {
                        located.file.clone()
                    } else {
                        file.clone()
                    };
                    errors.push(error(&file, line, message.text));
                    continue;
                }
            };
            for (p, prompt) in prompts.iter().enumerate() {
                let input = match render(&prompt.template, &test.vars) {
                    Ok(input) => input,
                    Err(e) => {
                        errors.push(case_at(format!("prompt {:?}: {e}", prompt.label)));
                        continue;
                    }
                };
                let mut id = format!("t{}.p{}", t + 1, p + 1);
                if several {
                    if let Some(provider) = provider {
                        id = format!("{id}@{}", provider.label);
                    }
                }
                let mut case = json!({
                    "id": id,
                    "input": input,
                    "metadata": {"promptfoo": {
                        "test": t + 1,
                        "description": test.description,
                        "prompt": prompt.label,
                        "vars": test.vars,
                        "provider": provider.as_ref().map(|p| p.label.clone()),
                        "metadata": test.metadata,
                    }},
                });
                // A test without assertions is asked and recorded, ungraded.
                if let Some(grader) = &grader {
                    case["grader"] = grader.clone();
                }
                if let Some(provider) = provider {
                    case["api"] = json!(provider.api);
                    case["model"] = json!(provider.model);
                    for (key, value) in &provider.sampling {
                        case[key] = value.clone();
                    }
                }
                lines.push(case.to_string());
                origins.push((located.file.clone(), located.line));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Translated {
        text: lines.join("\n"),
        origins,
    })
}

/// `defaultTest` under `test`: vars merged (the test's win), assertions appended to the
/// default's, the test's threshold and the rest.
fn merged(default: &Test, test: &Test) -> Test {
    let mut vars = default.vars.clone();
    vars.extend(test.vars.clone());
    let mut assert = default.assert.clone();
    assert.extend(test.assert.iter().cloned());
    Test {
        description: test.description.clone(),
        vars,
        assert,
        threshold: test.threshold.or(default.threshold),
        metadata: test.metadata.clone(),
        options: test.options.clone().or(default.options.clone()),
    }
}

fn error(file: &str, line: usize, message: String) -> SuiteError {
    SuiteError {
        file: file.to_owned(),
        line: line.max(1),
        column: 1,
        message,
    }
}

/// The 1-based line where `needle` is first written (1 when it is not).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i + 1)
}

/// Resolves `file://` paths against the config's directory.
fn resolve(dir: &Path, reference: &str) -> Option<PathBuf> {
    let rest = reference.strip_prefix("file://")?;
    let p = Path::new(rest);
    Some(if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    })
}

fn prompts(
    value: Option<&Value>,
    dir: &Path,
    file: &str,
    at: &dyn Fn(&str) -> usize,
) -> Result<Vec<Prompt>, Vec<SuiteError>> {
    let items = match value {
        None => return Err(vec![error(file, 1, "the config has no `prompts`".into())]),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut prompts = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        let (raw, label) = match &item {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => match o.get("raw").or(o.get("id")).and_then(Value::as_str) {
                Some(raw) => (
                    raw.to_owned(),
                    o.get("label").and_then(Value::as_str).map(str::to_owned),
                ),
                None => {
                    errors.push(error(
                        file,
                        at("prompts:"),
                        format!("a prompt needs `raw` or `id`: {item}"),
                    ));
                    continue;
                }
            },
            other => {
                errors.push(error(
                    file,
                    at("prompts:"),
                    format!("a prompt is a string or a mapping, not {other}"),
                ));
                continue;
            }
        };
        let Some(path) = resolve(dir, &raw) else {
            prompts.push(Prompt {
                label: label.unwrap_or_else(|| crate::target::excerpt(&raw, 40)),
                template: Value::String(raw),
            });
            continue;
        };
        let line = at(&raw);
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        let content = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(e) => {
                errors.push(error(
                    file,
                    line,
                    format!("cannot read {}: {e}", path.display()),
                ));
                continue;
            }
        };
        let shown = path
            .file_name()
            .map_or(raw.clone(), |n| n.to_string_lossy().into_owned());
        match ext {
            "txt" | "md" => {
                // promptfoo's separator of several prompts in one file.
                for (i, part) in content.split("\n---\n").enumerate() {
                    prompts.push(Prompt {
                        label: label.clone().unwrap_or_else(|| format!("{shown}#{}", i + 1)),
                        template: Value::String(part.trim_end_matches('\n').to_owned()),
                    });
                }
            }
            "json" => match serde_json::from_str::<Value>(&content) {
                Ok(Value::Array(messages))
                    if messages.iter().all(|m| m.get("role").is_some() && m.get("content").is_some()) =>
                {
                    prompts.push(Prompt {
                        label: label.unwrap_or(shown),
                        template: Value::Array(messages),
                    })
                }
                _ => errors.push(error(
                    file,
                    line,
                    format!("{}: a JSON prompt is a list of chat messages ({{role, content}})", path.display()),
                )),
            },
            other => errors.push(error(
                file,
                line,
                format!("prompt files of type .{other} are not supported (read: .txt, .md, .json chat messages)"),
            )),
        }
    }
    if prompts.is_empty() && errors.is_empty() {
        errors.push(error(file, at("prompts:"), "`prompts` is empty".into()));
    }
    if errors.is_empty() {
        Ok(prompts)
    } else {
        Err(errors)
    }
}

fn providers(
    value: Option<&Value>,
    file: &str,
    at: &dyn Fn(&str) -> usize,
) -> Result<Vec<Provider>, Vec<SuiteError>> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        let (id, config, label) = match &item {
            Value::String(id) => (id.clone(), Map::new(), None),
            Value::Object(o) => (
                o.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                o.get("config")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                o.get("label").and_then(Value::as_str).map(str::to_owned),
            ),
            other => {
                errors.push(error(
                    file,
                    at("providers:"),
                    format!("a provider is a string or a mapping, not {other}"),
                ));
                continue;
            }
        };
        let line = at(&id);
        let (api, model) = match id.split(':').collect::<Vec<_>>().as_slice() {
            ["openai", "chat", model] => ("chat", *model),
            ["openai", "responses", model] => ("responses", *model),
            ["openai", model]
                if !matches!(*model, "chat" | "responses" | "embedding" | "embeddings") =>
            {
                ("chat", *model)
            }
            _ => {
                errors.push(error(
                    file,
                    line,
                    format!("provider {id:?} is not supported (read: openai:chat:MODEL, openai:responses:MODEL, openai:MODEL)"),
                ));
                continue;
            }
        };
        let mut sampling = Map::new();
        let mut deployment = Deployment::default();
        for (key, value) in &config {
            let text = || value.as_str().map(str::to_owned);
            let ours = match key.as_str() {
                "temperature" => "temperature",
                "top_p" => "top_p",
                "seed" => "seed",
                "max_tokens" | "max_completion_tokens" | "max_output_tokens" => "max_output_tokens",
                "apiBaseUrl" | "apiHost" | "apiKey" | "apiKeyEnvar" => {
                    match (key.as_str(), text()) {
                        ("apiBaseUrl", Some(url)) => deployment.url = Some(url),
                        ("apiHost", Some(host)) => {
                            deployment.url.get_or_insert(format!("https://{host}/v1"));
                        }
                        ("apiKey", Some(k)) => deployment.key = Some(k),
                        ("apiKeyEnvar", Some(var)) => deployment.key_env = Some(var),
                        _ => errors.push(error(
                            file,
                            line,
                            format!("provider {id:?}: `{key}` must be a text"),
                        )),
                    }
                    continue;
                }
                other => {
                    errors.push(error(
                        file,
                        line,
                        format!("provider {id:?}: `{other}` is not supported"),
                    ));
                    continue;
                }
            };
            sampling.insert(ours.to_owned(), value.clone());
        }
        found.push(Provider {
            label: label.unwrap_or_else(|| id.clone()),
            api,
            model: model.to_owned(),
            sampling,
            deployment,
            line,
        });
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// `template` with each `{{ var }}` replaced by its value; a variable that is not set, a
/// filter, or a tag (`{% %}`) is an error, as the prompt would not be what promptfoo sends.
pub(super) fn render(template: &Value, vars: &Map<String, Value>) -> Result<Value, String> {
    match template {
        Value::String(text) => render_text(text, vars).map(Value::String),
        Value::Array(messages) => messages
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if let Some(content) = m.get("content").and_then(Value::as_str) {
                    m["content"] = Value::String(render_text(content, vars)?);
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn render_text(text: &str, vars: &Map<String, Value>) -> Result<String, String> {
    if text.contains("{%") {
        return Err("template tags ({% … %}) are not supported".into());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a `{{` without its `}}`")?;
        let name = after[..end].trim();
        if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.is_empty() {
            return Err(format!("`{{{{ {name} }}}}`: only plain variables are substituted (no filters or expressions)"));
        }
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => return Err(format!("the variable `{name}` is not set by the test")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_substituted_and_anything_else_refused() {
        let vars: Map<String, Value> =
            serde_json::from_value(json!({"city": "Paris", "n": 3})).unwrap_or_default();
        assert_eq!(
            render_text("Tell me about {{city}} in {{ n }} words.", &vars),
            Ok("Tell me about Paris in 3 words.".to_owned())
        );
        assert!(render_text("{{ missing }}", &vars).is_err_and(|e| e.contains("`missing`")));
        assert!(render_text("{{ city | upper }}", &vars).is_err_and(|e| e.contains("filters")));
        assert!(render_text("{% if x %}", &vars).is_err());
    }
}
