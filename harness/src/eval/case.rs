//! Eval suites: JSONL files, one case per line, with an optional `{"suite": {…}}` first line
//! for the suite's defaults. Everything is checked when the files are read (shapes, duplicate
//! ids, missing ideals, graders that cannot run), with compiler-style `file:line:column`
//! errors, so a bad suite never sends a request.

use super::grader::{Grader, GraderSpec};
use super::samples::{self, SamplesGrader};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// Which API a case is asked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`.
    Responses,
}

/// How a suite file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// This kit's cases, one JSON object per line (`cases/README.md`).
    Kit,
    /// OpenAI evals' samples: `{"input": [messages], "ideal": …}` per line, ids from line
    /// numbers, graded as `--grader` says.
    OpenaiEvals,
    /// A promptfoo config (`promptfooconfig.yaml`): prompts × tests, each pair a case.
    Promptfoo,
}

/// How suite files are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Overrides every case's API.
    pub api: Option<Api>,
    /// The files' format; when absent, each file's is told from its first line.
    pub format: Option<Format>,
    /// How OpenAI evals samples are graded.
    pub samples_grader: SamplesGrader,
    /// A promptfoo config's providers are the targets of a comparison (`--compare`), not
    /// cases of their own: its cases are prompts × tests, asked of each provider.
    pub providers_as_targets: bool,
}

/// Sampling settings for cases that set none (a compared target's, as its promptfoo provider
/// sets them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampling {
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `seed` (chat only).
    pub seed: Option<i64>,
    /// Most tokens of each answer.
    pub max_output_tokens: Option<u32>,
}

impl Reading {
    /// Our cases, asked through `api` (or their own).
    pub fn api(api: Option<Api>) -> Self {
        Self {
            api,
            ..Self::default()
        }
    }

    /// The format of a file whose first non-blank line is `first`.
    fn format_of(&self, first: Option<&str>) -> Format {
        self.format.unwrap_or_else(|| match first {
            Some(line) if samples::looks_like(line) => Format::OpenaiEvals,
            _ => Format::Kit,
        })
    }
}

/// The first line of a suite file, when it sets defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteLine {
    suite: SuiteDefaults,
}

/// What a suite's cases inherit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDefaults {
    /// The suite's name (default: the file name without extension).
    pub name: Option<String>,
    /// The API of cases that do not say.
    pub api: Option<Api>,
    /// The model of cases that do not say.
    pub model: Option<String>,
    /// The grader of cases that do not say.
    pub grader: Option<GraderSpec>,
    /// The suite's own accuracy gate.
    pub min_accuracy: Option<f64>,
}

/// One case line as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseLine {
    id: String,
    api: Option<Api>,
    model: Option<String>,
    input: Option<Value>,
    ideal: Option<Value>,
    turns: Option<Vec<TurnLine>>,
    instructions: Option<String>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    response_format: Option<Map<String, Value>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<i64>,
    max_output_tokens: Option<u32>,
    grader: Option<GraderSpec>,
    weight: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
    metadata: Option<Map<String, Value>>,
    repeat: Option<u32>,
    min_passes: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnLine {
    input: Value,
    ideal: Option<Value>,
}

/// One turn: what is sent, and what the answer should be.
#[derive(Debug, Clone)]
pub struct Turn {
    /// A string, chat messages, or Responses input items.
    pub input: Value,
    /// The ideal answer(s) of this turn.
    pub ideal: Option<Value>,
}

/// A checked case, ready to run.
#[derive(Debug)]
pub struct Case {
    /// The suite it belongs to.
    pub suite: String,
    /// Unique within the suite.
    pub id: String,
    /// Where it was written (`file:line`).
    pub origin: String,
    /// The API to ask.
    pub api: Api,
    /// The model, if the case or suite names one.
    pub model: Option<String>,
    /// The turns, in order (one for a single-turn case).
    pub turns: Vec<Turn>,
    /// System text / `instructions`.
    pub instructions: Option<String>,
    /// Tools in chat form (`{"type":"function","function":{…}}`).
    pub tools: Vec<Value>,
    /// `tool_choice` in chat form.
    pub tool_choice: Option<Value>,
    /// `response_format` in chat form.
    pub response_format: Option<Map<String, Value>>,
    /// Sampling parameters.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `seed`.
    pub seed: Option<i64>,
    /// Most tokens of each answer.
    pub max_output_tokens: Option<u32>,
    /// How answers are graded; none when the case has neither grader nor ideal (asked,
    /// recorded, counted apart as ungraded).
    pub grader: Option<Grader>,
    /// Its weight in accuracies.
    pub weight: f64,
    /// Tags, for per-tag accuracy and `--only-tags`.
    pub tags: Vec<String>,
    /// Free-form, copied to the report.
    pub metadata: Option<Map<String, Value>>,
    /// Times the case is asked.
    pub repeat: u32,
    /// Passing asks needed for the case to pass.
    pub min_passes: u32,
}

/// A checked suite. Its cases are not held: `cases()` reads them again, one at a time, so
/// memory does not grow with the size of the suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Its name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Its own accuracy gate.
    pub min_accuracy: Option<f64>,
    /// How many cases it has.
    pub len: usize,
    /// Cases that name no model (neither they nor the suite).
    pub without_model: usize,
    /// Cases with a `similar` grader (their answers need embeddings).
    pub embedding: usize,
    /// Cases with a `similar` grader that names no model (they need the run's).
    pub embedding_default: usize,
    /// Cases with a `judge` grader (their answers are put to a judge model).
    pub judging: usize,
    /// How it is written.
    pub format: Format,
    source: Source,
    reading: Reading,
    /// Where each line of the source was written, when it was read from another file (a
    /// promptfoo config and its tests files); empty otherwise.
    origins: Vec<(String, usize)>,
}

/// Where a suite's lines are read from.
#[derive(Debug, Clone)]
enum Source {
    File(std::path::PathBuf),
    Text(String),
}

impl Suite {
    /// SHA-256 of its text, as hex: the same suite wherever it is read.
    pub(crate) fn digest(&self) -> String {
        use sha2::Digest as _;
        let bytes = match &self.source {
            Source::Text(text) => text.as_bytes().to_vec(),
            Source::File(path) => std::fs::read(path).unwrap_or_default(),
        };
        format!("{:x}", sha2::Sha256::digest(bytes))
    }

    /// The cases in file order, parsed again from the source. An error means the file changed
    /// since it was checked.
    pub fn cases(&self) -> Box<dyn Iterator<Item = Result<Case, SuiteError>> + Send + '_> {
        let lines: Box<dyn Iterator<Item = String> + Send> = match &self.source {
            Source::Text(text) => Box::new(
                text.lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Source::File(path) => match std::fs::File::open(path) {
                Ok(f) => Box::new(
                    std::io::BufRead::lines(std::io::BufReader::new(f)).map_while(Result::ok),
                ),
                Err(e) => {
                    let error = SuiteError {
                        file: self.file.clone(),
                        line: 1,
                        column: 1,
                        message: format!("cannot read the suite again: {e}"),
                    };
                    return Box::new(std::iter::once(Err(error)));
                }
            },
        };
        // A promptfoo config is held as the cases it was read as, in our format.
        let format = match self.format {
            Format::Promptfoo => Format::Kit,
            other => other,
        };
        let mut reader = Reader::new(&self.file, &self.reading, format);
        let origins = &self.origins;
        Box::new(
            lines
                .enumerate()
                .filter_map(move |(i, raw)| {
                    let read = reader.line(i + 1, &raw)?;
                    // A case read from a promptfoo config is shown where its test was written.
                    Some(read.map(|mut case| {
                        if let Some((file, line)) = origins.get(i) {
                            case.origin = format!("{file}:{line}");
                        }
                        case
                    }))
                })
                .map(|read| read.map_err(|mut errors| errors.remove(0))),
        )
    }
}

/// Something wrong in a suite file, located as a compiler would.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The case's grader, compiled and checked against its turns' ideals.
fn compile(
    spec: &GraderSpec,
    tools: &Option<Vec<Value>>,
    turns: &[Turn],
    col: &dyn Fn(&str) -> usize,
) -> Result<Grader, (usize, String)> {
    let grader = Grader::compile(spec, tools.as_deref().unwrap_or_default())
        .map_err(|m| (col("grader"), m))?;
    if grader.needs_ideal() {
        if let Some(i) = turns.iter().position(|t| t.ideal.is_none()) {
            let which = if turns.len() > 1 {
                format!("turn {} has no `ideal`", i + 1)
            } else {
                "the case has no `ideal`".into()
            };
            return Err((
                1,
                format!("{which}, which its grader ({}) needs", spec.name()),
            ));
        }
        for turn in turns {
            if let Some(ideal) = &turn.ideal {
                grader.check_ideal(ideal).map_err(|m| (col("ideal"), m))?;
            }
        }
    }
    Ok(grader)
}

/// The column where `"key"` is written on `line` (1 when it is not found).
fn column_of(line: &str, key: &str) -> usize {
    line.find(&format!("\"{key}\""))
        .map_or(1, |byte| line[..byte].chars().count() + 1)
}

/// serde's message without the position it appends (" at line 1 column 46"): the error is
/// shown at its own `file:line:column`.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// What is wrong with a line serde refused, each at its column: misspelt keys of the case
/// (or of the suite's defaults when `suite`), of its turns, and misspelt grader types, each
/// with the closest known name; anything else as serde says it, at serde's column.
fn explain(raw: &str, e: &serde_json::Error, suite: bool) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let Ok(Value::Object(line)) = serde_json::from_str::<Value>(raw) else {
        return vec![(e.column().max(1), message(e))];
    };
    let mut unknown_keys = |object: &Map<String, Value>, known: &[&str]| {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            found.push((
                column_of(raw, key),
                crate::hint::unknown("field", key, known),
            ));
        }
    };
    let (object, known) = if suite {
        match line.get("suite") {
            Some(Value::Object(defaults)) => (defaults, crate::hint::fields::<SuiteDefaults>()),
            _ => (&line, crate::hint::fields::<SuiteLine>()),
        }
    } else {
        (&line, crate::hint::fields::<CaseLine>())
    };
    unknown_keys(object, known);
    if let Some(Value::Array(turns)) = object.get("turns") {
        for turn in turns.iter().filter_map(Value::as_object) {
            unknown_keys(turn, crate::hint::fields::<TurnLine>());
        }
    }
    let grader = match object.get("grader") {
        Some(Value::Object(g)) => g.get("type").and_then(Value::as_str),
        Some(Value::String(name)) => Some(name.as_str()),
        _ => None,
    };
    if let Some(t) = grader.filter(|t| !super::grader::TYPES.contains(t)) {
        let column = raw
            .find(&format!("\"{t}\""))
            .map_or(1, |byte| raw[..byte].chars().count() + 1);
        found.push((
            column,
            crate::hint::unknown("grader type", t, &super::grader::TYPES),
        ));
    }
    if found.is_empty() {
        found.push((e.column().max(1), message(e)));
    }
    found
}

/// Most bytes of one suite file.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads and checks the suite in `path`, as `reading` says.
pub fn load(path: &Path, reading: &Reading) -> Result<Suite, Vec<SuiteError>> {
    let file = path.display().to_string();
    let at = |message: String| {
        vec![SuiteError {
            file: file.clone(),
            line: 1,
            column: 1,
            message,
        }]
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(at(format!(
            "the file has {size} bytes, more than the {MAX_FILE_BYTES} a suite may have"
        )));
    }
    let open = || {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| at(format!("cannot read the suite: {e}")))
    };
    let first = std::io::BufRead::lines(open()?)
        .map_while(Result::ok)
        .find(|l| !l.trim().is_empty());
    let format = reading.format_of(first.as_deref());
    let reader = open()?;
    let mut failed = None;
    let checked = check_all(
        &file,
        std::io::BufRead::lines(reader).map_while(|l| match l {
            Ok(l) => Some(l),
            Err(e) => {
                failed = Some(e);
                None
            }
        }),
        reading,
        format,
    );
    if let Some(e) = failed {
        return Err(at(format!("cannot read the suite: {e}")));
    }
    Ok(checked?.into_suite(file, format, Source::File(path.to_path_buf()), reading))
}

impl Suite {
    /// This suite with every case asked through `api` (none: as the suite says).
    pub(crate) fn asked_through(mut self, api: Option<Api>) -> Self {
        if api.is_some() {
            self.reading.api = api;
        }
        self
    }

    /// Marks a suite parsed from the cases another file was read as (a promptfoo config):
    /// its format, and where each of its lines was written, for what reports show.
    pub(crate) fn read_from(mut self, format: Format, origins: Vec<(String, usize)>) -> Self {
        self.format = format;
        self.origins = origins;
        self
    }
}

/// Checks the suite text of `file` (see [`load`]).
pub fn parse(file: &str, text: &str, reading: &Reading) -> Result<Suite, Vec<SuiteError>> {
    let format = reading.format_of(text.lines().find(|l| !l.trim().is_empty()));
    let checked = check_all(file, text.lines().map(str::to_owned), reading, format)?;
    Ok(checked.into_suite(
        file.to_owned(),
        format,
        Source::Text(text.to_owned()),
        reading,
    ))
}

/// What checking a suite keeps.
struct Checked {
    name: String,
    min_accuracy: Option<f64>,
    len: usize,
    without_model: usize,
    embedding: usize,
    embedding_default: usize,
    judging: usize,
}

impl Checked {
    fn into_suite(self, file: String, format: Format, source: Source, reading: &Reading) -> Suite {
        Suite {
            name: self.name,
            file,
            min_accuracy: self.min_accuracy,
            len: self.len,
            without_model: self.without_model,
            embedding: self.embedding,
            embedding_default: self.embedding_default,
            judging: self.judging,
            format,
            source,
            reading: *reading,
            origins: Vec::new(),
        }
    }
}

/// Checks every line; keeps only the ids (for duplicates) and counts.
fn check_all(
    file: &str,
    lines: impl Iterator<Item = String>,
    reading: &Reading,
    format: Format,
) -> Result<Checked, Vec<SuiteError>> {
    let mut reader = Reader::new(file, reading, format);
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    let mut len = 0usize;
    let mut without_model = 0usize;
    let mut embedding = 0usize;
    let mut embedding_default = 0usize;
    let mut judging = 0usize;
    for (index, raw) in lines.enumerate() {
        let number = index + 1;
        match reader.line(number, &raw) {
            None => {}
            Some(Err(e)) => errors.extend(e),
            Some(Ok(case)) => {
                len += 1;
                without_model += usize::from(case.model.is_none());
                embedding += usize::from(case.grader.as_ref().is_some_and(Grader::embeds));
                embedding_default +=
                    usize::from(case.grader.as_ref().is_some_and(Grader::embeds_by_default));
                judging += usize::from(
                    case.grader
                        .as_ref()
                        .is_some_and(|g| !g.rubrics().is_empty()),
                );
                if ids.contains(&case.id) {
                    errors.push(SuiteError {
                        file: file.to_owned(),
                        line: number,
                        column: column_of(&raw, "id"),
                        message: format!("duplicate case id {:?}", case.id),
                    });
                } else {
                    ids.insert(case.id);
                }
            }
        }
    }
    if errors.is_empty() && len == 0 {
        errors.push(SuiteError {
            file: file.to_owned(),
            line: 1,
            column: 1,
            message: "the suite has no case".to_owned(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let name = reader.defaults.name.clone().unwrap_or(reader.stem);
    Ok(Checked {
        name,
        min_accuracy: reader.defaults.min_accuracy,
        len,
        without_model,
        embedding,
        embedding_default,
        judging,
    })
}

/// Reads a suite's lines in order: the defaults line first, if there is one, then each case,
/// checked against those defaults.
struct Reader {
    file: String,
    stem: String,
    api: Option<Api>,
    format: Format,
    samples_grader: SamplesGrader,
    defaults: SuiteDefaults,
    first: bool,
}

impl Reader {
    fn new(file: &str, reading: &Reading, format: Format) -> Self {
        Self {
            file: file.to_owned(),
            stem: Path::new(file)
                .file_stem()
                .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned()),
            api: reading.api,
            format,
            samples_grader: reading.samples_grader,
            defaults: SuiteDefaults::default(),
            first: true,
        }
    }

    /// Line `number`: `None` when it holds no case (blank, or the defaults), else the case or
    /// what is wrong with the line.
    fn line(&mut self, number: usize, raw: &str) -> Option<Result<Case, Vec<SuiteError>>> {
        let at = |column: usize, message: String| SuiteError {
            file: self.file.clone(),
            line: number,
            column,
            message,
        };
        if raw.trim().is_empty() {
            return None;
        }
        if self.format == Format::OpenaiEvals {
            // The case the sample stands for; what is wrong with it is at the sample's line
            // (its columns are those of the case made from it, so none is given).
            let case = match samples::translate(raw, number, self.samples_grader) {
                Ok(case) => case,
                Err(message) => return Some(Err(vec![at(1, message)])),
            };
            self.format = Format::Kit;
            let read = self.line(number, &case);
            self.format = Format::OpenaiEvals;
            return read.map(|r| {
                r.map_err(|errors| {
                    errors
                        .into_iter()
                        .map(|e| SuiteError { column: 1, ..e })
                        .collect()
                })
            });
        }
        let is_first = std::mem::replace(&mut self.first, false);
        if is_first && raw.trim_start().starts_with("{\"suite\"") {
            let mut errors = Vec::new();
            match serde_json::from_str::<SuiteLine>(raw) {
                Ok(line) => self.defaults = line.suite,
                Err(e) => errors.extend(
                    explain(raw, &e, true)
                        .into_iter()
                        .map(|(column, message)| at(column, message)),
                ),
            }
            if let Some(gate) = self.defaults.min_accuracy {
                if !(0.0..=1.0).contains(&gate) {
                    errors.push(at(
                        column_of(raw, "min_accuracy"),
                        format!("min_accuracy {gate} is not between 0 and 1"),
                    ));
                }
            }
            return (!errors.is_empty()).then_some(Err(errors));
        }
        let line: CaseLine = match serde_json::from_str(raw) {
            Ok(line) => line,
            Err(e) => {
                let errors = explain(raw, &e, false)
                    .into_iter()
                    .map(|(column, message)| at(column, message));
                return Some(Err(errors.collect()));
            }
        };
        Some(
            check(
                line,
                raw,
                &self.defaults,
                self.api,
                &self.stem,
                &self.file,
                number,
            )
            .map_err(|(column, message)| vec![at(column, message)]),
        )
    }
}

/// Checks one case line against the suite's defaults.
fn check(
    line: CaseLine,
    raw: &str,
    defaults: &SuiteDefaults,
    api: Option<Api>,
    suite: &str,
    file: &str,
    number: usize,
) -> Result<Case, (usize, String)> {
    let col = |key: &str| column_of(raw, key);
    if line.id.trim().is_empty() {
        return Err((col("id"), "the case id is empty".into()));
    }
    let turns = match (line.input, line.turns) {
        (Some(_), Some(_)) => {
            return Err((
                col("turns"),
                "a case has either `input` (one turn) or `turns`, not both".into(),
            ))
        }
        (None, None) => {
            return Err((1, "the case has no `input` (or `turns`)".into()));
        }
        (Some(input), None) => vec![Turn {
            input,
            ideal: line.ideal.clone(),
        }],
        (None, Some(turns)) => {
            if line.ideal.is_some() {
                return Err((
                    col("ideal"),
                    "a case with `turns` gives each turn its own `ideal`".into(),
                ));
            }
            if turns.is_empty() {
                return Err((col("turns"), "`turns` is empty".into()));
            }
            turns
                .into_iter()
                .map(|t| Turn {
                    input: t.input,
                    ideal: t.ideal,
                })
                .collect()
        }
    };
    for turn in &turns {
        check_input(&turn.input).map_err(|m| (col("input").min(col("turns")), m))?;
    }
    // Without a grader, an ideal answer is matched exactly (trimmed), as OpenAI evals' basic
    // match does; without an ideal either, the case is asked and its answers kept, ungraded.
    let exact = || {
        turns
            .iter()
            .any(|t| t.ideal.is_some())
            .then(|| serde_json::from_value::<GraderSpec>(Value::from("exact")).ok())
            .flatten()
    };
    let spec = line
        .grader
        .clone()
        .or_else(|| defaults.grader.clone())
        .or_else(exact);
    let grader = match &spec {
        Some(spec) => Some(compile(spec, &line.tools, &turns, &col)?),
        None => None,
    };
    let weight = line.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err((
            col("weight"),
            format!("weight {weight} is not a positive number"),
        ));
    }
    let repeat = line.repeat.unwrap_or(1);
    if repeat == 0 || repeat > 1000 {
        return Err((
            col("repeat"),
            format!("repeat {repeat} is not between 1 and 1000"),
        ));
    }
    let min_passes = line.min_passes.unwrap_or(repeat);
    if min_passes == 0 || min_passes > repeat {
        return Err((
            col("min_passes"),
            format!("min_passes {min_passes} is not between 1 and repeat ({repeat})"),
        ));
    }
    Ok(Case {
        suite: defaults.name.clone().unwrap_or_else(|| suite.to_owned()),
        id: line.id,
        origin: format!("{file}:{number}"),
        api: api.or(line.api).or(defaults.api).unwrap_or(Api::Chat),
        model: line.model.or_else(|| defaults.model.clone()),
        turns,
        instructions: line.instructions,
        tools: line.tools.unwrap_or_default(),
        tool_choice: line.tool_choice,
        response_format: line.response_format,
        temperature: line.temperature,
        top_p: line.top_p,
        seed: line.seed,
        max_output_tokens: line.max_output_tokens,
        grader,
        weight,
        tags: line.tags,
        metadata: line.metadata,
        repeat,
        min_passes,
    })
}

/// An input is a non-empty string or a non-empty list of message/item objects.
fn check_input(input: &Value) -> Result<(), String> {
    match input {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => Ok(()),
        _ => Err("`input` must be a non-empty string or a list of message objects".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse("s.jsonl", text, &Reading::default()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_misspelt_name_is_shown_once_at_its_own_column_with_the_closest_known_one() {
        let e = errors(
            r#"{"id": "a", "input": "x", "idael": "4"}
{"id": "b", "input": "x", "ideal": "4", "grader": {"type": "exakt"}}
{"id": "c", "turns": [{"input": "x", "idael": "y"}], "grader": "exact"}
{"id": "d", "input": "x", "ideal": 4, "grader": "numeric", "zzz": 1}
{"id": "e", "input": "x", "ideal": "4", "temperature": "hot"}"#,
        );
        assert_eq!(
            e,
            [
                "s.jsonl:1:27: unknown field `idael`: did you mean `ideal`?",
                "s.jsonl:2:60: unknown grader type `exakt`: did you mean `exact`?",
                "s.jsonl:3:38: unknown field `idael`: did you mean `ideal`?",
                "s.jsonl:4:60: unknown field `zzz` (known: `id`, `api`, `model`, `input`, `ideal`, `turns`, `instructions`, `tools`, `tool_choice`, `response_format`, `temperature`, `top_p`, `seed`, `max_output_tokens`, `grader`, `weight`, `tags`, `metadata`, `repeat`, `min_passes`)",
                "s.jsonl:5:60: invalid type: string \"hot\", expected f64",
            ]
        );
        let e = errors(r#"{"suite": {"gader": "exact"}}"#);
        assert_eq!(
            e,
            ["s.jsonl:1:12: unknown field `gader`: did you mean `grader`?"]
        );
    }

    #[test]
    fn an_ideal_without_a_grader_is_matched_exactly_and_nothing_to_judge_by_is_ungraded() {
        let suite = parse(
            "s.jsonl",
            r#"{"id": "a", "input": "x", "ideal": "4"}
{"id": "b", "turns": [{"input": "x", "ideal": "1"}, {"input": "y", "ideal": "2"}]}
{"id": "c", "input": "x"}
{"id": "d", "turns": [{"input": "x", "ideal": "1"}, {"input": "y"}]}"#,
            &Reading::default(),
        );
        let e = suite.as_ref().err().cloned().unwrap_or_default();
        // Some turns with an ideal and some without: exact cannot grade the others.
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["s.jsonl:4:1: turn 2 has no `ideal`, which its grader (exact) needs"]
        );
        let suite = parse(
            "s.jsonl",
            r#"{"id": "a", "input": "x", "ideal": "4"}
{"id": "b", "turns": [{"input": "x", "ideal": "1"}, {"input": "y", "ideal": "2"}]}
{"id": "c", "input": "x"}"#,
            &Reading::default(),
        );
        let cases: Vec<Case> = suite
            .map(|s| s.cases().map_while(Result::ok).collect())
            .unwrap_or_default();
        assert_eq!(cases.len(), 3);
        assert!(matches!(cases[0].grader, Some(Grader::Exact { .. })));
        assert!(matches!(cases[1].grader, Some(Grader::Exact { .. })));
        assert!(cases[2].grader.is_none());
    }

    #[test]
    fn a_good_suite_reads_with_its_defaults() {
        let suite = parse(
            "dir/math.jsonl",
            r#"{"suite": {"api": "responses", "grader": "exact", "min_accuracy": 0.9}}
{"id": "a", "input": "1 + 1", "ideal": "1 + 1 = 2.", "tags": ["arith"]}

{"id": "b", "turns": [{"input": "hi", "ideal": "You said: hi"}, {"input": "yo", "ideal": "x"}], "api": "chat"}"#,
            &Reading::default(),
        );
        let Ok(suite) = suite else {
            panic!("{suite:?}")
        };
        assert_eq!(suite.name, "math");
        assert_eq!(suite.min_accuracy, Some(0.9));
        assert_eq!(suite.len, 2);
        let cases: Vec<Case> = suite.cases().map_while(Result::ok).collect();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].api, Api::Responses);
        assert_eq!(cases[1].api, Api::Chat);
        assert_eq!(cases[1].turns.len(), 2);
        assert_eq!(cases[1].origin, "dir/math.jsonl:4");
    }

    #[test]
    fn cases_are_read_again_from_the_file_and_a_change_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("suite.jsonl");
        let line = "{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n";
        let _ = std::fs::write(
            &path,
            line.replace("\"a\"", "\"a1\"") + &line.replace("\"a\"", "\"a2\""),
        );
        let Ok(suite) = load(&path, &Reading::default()) else {
            panic!("the suite loads")
        };
        assert_eq!(suite.len, 2);
        let ids: Vec<String> = suite.cases().filter_map(Result::ok).map(|c| c.id).collect();
        assert_eq!(ids, vec!["a1", "a2"]);
        let _ = std::fs::write(&path, "{\"id\": 5}\n");
        assert!(suite.cases().any(|c| c.is_err()));
    }

    #[test]
    fn a_duplicate_id_is_located() {
        let e = errors(
            "{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n  {\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}",
        );
        assert_eq!(e, vec!["s.jsonl:2:4: duplicate case id \"a\"".to_owned()]);
    }

    #[test]
    fn an_unknown_grader_is_located() {
        let e = errors(r#"{"id": "a", "input": "x", "ideal": "y", "grader": "telepathy"}"#);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("s.jsonl:1:"), "{e:?}");
        assert!(e[0].contains("telepathy"), "{e:?}");
    }

    #[test]
    fn a_missing_ideal_is_an_error_for_graders_that_need_one() {
        let e = errors(r#"{"id": "a", "input": "x", "grader": "exact"}"#);
        assert_eq!(
            e,
            vec!["s.jsonl:1:1: the case has no `ideal`, which its grader (exact) needs".to_owned()]
        );
        assert!(errors(
            r#"{"id": "a", "input": "x", "grader": {"type": "regex", "pattern": "x"}}"#
        )
        .is_empty());
    }

    #[test]
    fn bad_json_unknown_fields_and_bad_numbers_are_located() {
        assert!(errors("{\"id\": \"a\",")
            .first()
            .is_some_and(|e| e.starts_with("s.jsonl:1:")));
        let e =
            errors(r#"{"id": "a", "input": "x", "ideal": "y", "grader": "exact", "wieght": 2}"#);
        assert!(e.first().is_some_and(|e| e.contains("wieght")), "{e:?}");
        let e = errors(
            r#"{"id": "a", "input": "x", "ideal": "y", "grader": "exact", "repeat": 3, "min_passes": 4}"#,
        );
        assert!(
            e.first().is_some_and(|e| e.contains("min_passes 4")),
            "{e:?}"
        );
        assert_eq!(
            errors(""),
            vec!["s.jsonl:1:1: the suite has no case".to_owned()]
        );
    }
}
