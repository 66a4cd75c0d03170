//! Runs a composite action's steps as a GitHub runner does: `${{ }}` expressions evaluated
//! (contexts `inputs`, `steps.<id>.outputs`, `github`; `==`, `!=`, `&&`, `||`, `!`,
//! parentheses, `always()`, `success()`, `failure()`, `startsWith()`), each `run` step in
//! `bash --noprofile --norc -eo pipefail` with the job's variables and its own
//! `GITHUB_OUTPUT`, `GITHUB_PATH` lines added to the next steps' `PATH`, a step without `if`
//! only after every earlier one succeeded. `uses` steps are recorded, not run.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What running the action did.
pub struct Run {
    /// Each step's name and what became of it: "ok", "failed", "skipped", "uses".
    pub steps: Vec<(String, &'static str)>,
    /// The action's outputs.
    pub outputs: BTreeMap<String, String>,
    /// Everything the steps printed.
    pub log: String,
    /// Whether every step that ran succeeded.
    pub success: bool,
}

/// Runs `action.yml` at `root` with `inputs` and the job's `env` (GITHUB_* and the rest).
pub fn run(root: &Path, inputs: &[(&str, &str)], env: &[(String, String)], work: &Path) -> Run {
    let text = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let action: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut ctx = json!({"inputs": {}, "steps": {}, "github": {
        "action_ref": "main", "action_repository": "octo/conformance-kit", "job": "check",
        "run_attempt": "1", "event_name": "pull_request",
    }});
    for (name, spec) in action["inputs"].as_object().unwrap() {
        ctx["inputs"][name] = spec["default"].clone();
    }
    for (name, value) in inputs {
        assert!(
            ctx["inputs"].get(*name).is_some(),
            "the action has no input {name}"
        );
        ctx["inputs"][*name] = json!(value);
    }
    let mut path_dirs: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    let mut log = String::new();
    let mut failed = false;
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        let status_ok = !failed;
        let runs = match step["if"].as_str() {
            Some(cond) => truthy(&eval(cond, &ctx, status_ok)),
            None => status_ok,
        };
        if !runs {
            steps.push((name, "skipped"));
            continue;
        }
        if step.get("uses").is_some() {
            steps.push((name, "uses"));
            continue;
        }
        let script = step["run"].as_str().unwrap();
        let output = work.join(format!("output-{i}"));
        let gpath = work.join(format!("path-{i}"));
        std::fs::write(&output, "").unwrap();
        std::fs::write(&gpath, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.args([
            "--noprofile",
            "--norc",
            "-eo",
            "pipefail",
            "-c",
            &interpolate(script, &ctx, status_ok),
        ]);
        cmd.env_clear();
        cmd.current_dir(work);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let base_path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut full_path = path_dirs.clone();
        full_path.push(base_path);
        cmd.env("PATH", full_path.join(":"));
        cmd.env("GITHUB_ACTION_PATH", root);
        cmd.env("GITHUB_OUTPUT", &output);
        cmd.env("GITHUB_PATH", &gpath);
        if let Some(vars) = step["env"].as_object() {
            for (k, v) in vars {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                cmd.env(k, interpolate(&v, &ctx, status_ok));
            }
        }
        let out = cmd.output().unwrap();
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        for line in std::fs::read_to_string(&gpath).unwrap().lines().rev() {
            if !line.trim().is_empty() {
                path_dirs.insert(0, line.trim().to_owned());
            }
        }
        if let Some(id) = step["id"].as_str() {
            let mut outputs = Map::new();
            for line in std::fs::read_to_string(&output).unwrap().lines() {
                if let Some((k, v)) = line.split_once('=') {
                    outputs.insert(k.to_owned(), json!(v));
                }
            }
            ctx["steps"][id] = json!({"outputs": outputs});
        }
        let ok = out.status.success();
        failed |= !ok;
        steps.push((name, if ok { "ok" } else { "failed" }));
    }
    let mut outputs = BTreeMap::new();
    for (name, spec) in action["outputs"].as_object().unwrap() {
        let value = interpolate(spec["value"].as_str().unwrap(), &ctx, !failed);
        outputs.insert(name.clone(), value);
    }
    Run {
        steps,
        outputs,
        log,
        success: !failed,
    }
}

/// `text` with each `${{ expr }}` replaced by its value.
fn interpolate(text: &str, ctx: &Value, ok: bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").unwrap() + start;
        out.push_str(&shown(&eval(&rest[start + 3..end], ctx, ok)));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn shown(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// GitHub's truthiness: false, 0, "", null are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Evaluates an expression (`ok`: whether every earlier step succeeded).
fn eval(expr: &str, ctx: &Value, ok: bool) -> Value {
    let tokens = tokenize(expr);
    let mut parser = Parser {
        tokens,
        at: 0,
        ctx,
        ok,
    };
    let v = parser.or();
    assert_eq!(parser.at, parser.tokens.len(), "unread tokens in {expr:?}");
    v
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Ident(String),
    Op(&'static str),
}

fn tokenize(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            while chars[i] != '\'' || chars.get(i + 1) == Some(&'\'') {
                if chars[i] == '\'' {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token::Str(s));
        } else if let Some(op) = ["==", "!=", "&&", "||"]
            .iter()
            .find(|op| expr[expr.char_indices().nth(i).unwrap().0..].starts_with(**op))
        {
            tokens.push(Token::Op(op));
            i += 2;
        } else if "()!,".contains(c) {
            tokens.push(Token::Op(match c {
                '(' => "(",
                ')' => ")",
                '!' => "!",
                _ => ",",
            }));
            i += 1;
        } else {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || "._-".contains(chars[i])) {
                s.push(chars[i]);
                i += 1;
            }
            assert!(!s.is_empty(), "cannot read {expr:?} at {i}");
            tokens.push(Token::Ident(s));
        }
    }
    tokens
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    ctx: &'a Value,
    ok: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek()
            == Some(&Token::Op(match op {
                "||" => "||",
                "&&" => "&&",
                "==" => "==",
                "!=" => "!=",
                "(" => "(",
                ")" => ")",
                "!" => "!",
                _ => ",",
            }))
        {
            self.at += 1;
            true
        } else {
            false
        }
    }

    // `a || b` is a if truthy, else b; `a && b` is a if falsy, else b (GitHub's rules).
    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.eat("||") {
            let r = self.and();
            v = if truthy(&v) { v } else { r };
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.cmp();
        while self.eat("&&") {
            let r = self.cmp();
            v = if truthy(&v) { r } else { v };
        }
        v
    }

    fn cmp(&mut self) -> Value {
        let v = self.unary();
        if self.eat("==") {
            let r = self.unary();
            return json!(shown(&v).eq_ignore_ascii_case(&shown(&r)));
        }
        if self.eat("!=") {
            let r = self.unary();
            return json!(!shown(&v).eq_ignore_ascii_case(&shown(&r)));
        }
        v
    }

    fn unary(&mut self) -> Value {
        if self.eat("!") {
            return json!(!truthy(&self.unary()));
        }
        if self.eat("(") {
            let v = self.or();
            assert!(self.eat(")"));
            return v;
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Str(s)) => {
                self.at += 1;
                json!(s)
            }
            Some(Token::Ident(name)) => {
                self.at += 1;
                if self.eat("(") {
                    let mut args = Vec::new();
                    while !self.eat(")") {
                        args.push(self.or());
                        self.eat(",");
                    }
                    return match name.as_str() {
                        "always" => json!(true),
                        "success" => json!(self.ok),
                        "failure" => json!(!self.ok),
                        "startsWith" => json!(shown(&args[0])
                            .to_lowercase()
                            .starts_with(&shown(&args[1]).to_lowercase())),
                        other => panic!("function {other} is not known here"),
                    };
                }
                match name.as_str() {
                    "true" => json!(true),
                    "false" => json!(false),
                    "null" => Value::Null,
                    path => path.split('.').fold(self.ctx.clone(), |v, key| {
                        v.get(key).cloned().unwrap_or(Value::Null)
                    }),
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn expressions_evaluate_as_github_documents_them() {
    let ctx =
        json!({"inputs": {"a": "", "b": "x", "flag": "true"}, "github": {"action_ref": "v1.2"}});
    let e = |s: &str| eval(s, &ctx, true);
    assert_eq!(e("inputs.a || 'dflt'"), json!("dflt"));
    assert_eq!(e("inputs.b || 'dflt'"), json!("x"));
    assert_eq!(
        e("inputs.a || (startsWith(github.action_ref, 'v') && github.action_ref || 'source')"),
        json!("v1.2")
    );
    assert_eq!(e("always() && inputs.flag == 'true'"), json!(true));
    assert_eq!(e("always() && inputs.a != ''"), json!(false));
    assert_eq!(eval("success()", &ctx, false), json!(false));
    assert_eq!(e("!inputs.a"), json!(true));
}
